import unittest
import pylib

class T(unittest.TestCase):
    def test_add(self):
        self.assertEqual(pylib.add(2, 3), 5)
