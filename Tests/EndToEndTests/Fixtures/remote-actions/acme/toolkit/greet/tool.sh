#!/bin/sh
echo "tool.sh is executable"
