"""Serves deploy/envs/ENV/current on 127.0.0.1:PORT, following the symlink on every request."""
import functools, http.server, os, sys

env, port = sys.argv[1], int(sys.argv[2])
root = os.path.join("deploy", "envs", env)
os.makedirs(root, exist_ok=True)


class Handler(http.server.SimpleHTTPRequestHandler):
    def translate_path(self, path):
        current = os.path.join(root, "current")
        return os.path.join(current, path.lstrip("/").split("?")[0])

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
