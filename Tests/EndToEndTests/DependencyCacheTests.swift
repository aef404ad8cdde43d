import Foundation
import XCTest

/// Dependency caches (`caches:`) through the binary, on real git clones: what uv, pip and
/// virtualenvs need (symlinks kept as links, `~/` paths, directory patterns, matrix paths).
final class DependencyCacheTests: XCTestCase {
    static let git = "git -c user.name=test -c user.email=test@example.com -c init.defaultBranch=main"

    /// Builds a uv-style cache: absolute links (to a system file, into the workspace, into the
    /// cache itself, dangling), relative links (to a directory of the cache, into the workspace),
    /// an executable, a read-only file; and a pip-style cache under $HOME.
    static let makeCache = #"""
        set -e
        d=.cache/uv-py3.12
        mkdir -p "$d/archive-v0/abc/bin" "$d/wheels"
        echo 'print("hi")' > "$d/archive-v0/abc/mod.py"
        printf '#!/bin/sh\necho tool\n' > "$d/archive-v0/abc/bin/tool" && chmod 755 "$d/archive-v0/abc/bin/tool"
        echo wheel > "$d/wheels/w.whl" && chmod 444 "$d/wheels/w.whl"
        ln -s /bin/sh "$d/archive-v0/abc/bin/python"
        ln -s "$PWD/src/app.py" "$d/abs-into-workspace"
        ln -s "$PWD/$d/archive-v0/abc" "$d/abs-into-cache"
        ln -s /nonexistent/uv/dangling "$d/dangling"
        ln -s archive-v0/abc "$d/current"
        ln -s ../../src/app.py "$d/rel-into-workspace"
        echo marker > "$d/marker"
        p="$HOME/.cache/pip-3.12"
        mkdir -p "$p/http/a"
        echo blob > "$p/http/a/b"
        ln -s /etc/hostname "$p/link"
        """#

    static let pipeline = """
        name: deps
        jobs:
          install:
            matrix:
              python: ["3.12"]
            caches:
              - key: "uv-${{ matrix.python }}-${{ hashFiles('requirements.lock') }}"
                paths: [".cache/uv-py*", "~/.cache/pip-${{ matrix.python }}"]
              - key: "empty-${{ matrix.python }}"
                paths: [".cache/nothing-here"]
            steps:
              - run: |
                  if [ -e .cache/uv-py3.12/marker ]; then echo "reused cache"; exit 0; fi
                  echo "fresh cache"
                  sh make-cache.sh
        """

    /// Everything under a directory, one line per entry: type, mode, path, size and link target
    /// (not for directories, whose size depends on the file system), then every file's SHA-256.
    static let listing =
        #"find . \( -type d -printf 'd %m %p\n' \) -o -printf '%y %m %s %p -> %l\n' | sort; find . -type f -exec sha256sum {} + | sort"#

    func testUVStyleCacheWithAbsoluteSymlinksIsRestoredByteIdenticalInAFreshClone() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("shipgate-deps-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let origin = base + "/origin"
        try FileManager.default.createDirectory(atPath: origin + "/src", withIntermediateDirectories: true)
        try Self.pipeline.write(toFile: origin + "/shipgate.yml", atomically: true, encoding: .utf8)
        try Self.makeCache.write(toFile: origin + "/make-cache.sh", atomically: true, encoding: .utf8)
        try "print('app')\n".write(toFile: origin + "/src/app.py", atomically: true, encoding: .utf8)
        try "uv==0.5\n".write(toFile: origin + "/requirements.lock", atomically: true, encoding: .utf8)
        try ".cache/\n".write(toFile: origin + "/.gitignore", atomically: true, encoding: .utf8)
        _ = try await CLI.shell("\(Self.git) init -q && \(Self.git) add -A && \(Self.git) commit -qm initial", in: origin)
        for name in ["one", "two", "home1", "home2"] {
            try FileManager.default.createDirectory(atPath: base + "/" + name, withIntermediateDirectories: true)
        }
        _ = try await CLI.shell("\(Self.git) clone -q origin one && \(Self.git) clone -q origin two", in: base)
        let state = base + "/state"

        let first = try await CLI.run(["run"], in: base + "/one", environment: ["HOME": base + "/home1", "SHIPGATE_STATE_DIR": state])
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssertTrue(first.stdout.contains("fresh cache"), first.stdout)
        XCTAssertTrue(first.stdout.contains("cache `uv-3.12-"), first.stdout)
        XCTAssertTrue(first.stdout.contains("saved 12 files"), first.stdout + first.stderr)
        XCTAssertTrue(
            (first.stdout + first.stderr).contains("cache `empty-3.12`: `paths` matched no file (.cache/nothing-here); nothing saved"),
            first.stdout + first.stderr)

        let second = try await CLI.run(["run"], in: base + "/two", environment: ["HOME": base + "/home2", "SHIPGATE_STATE_DIR": state])
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        XCTAssertTrue(second.stdout.contains("reused cache"), second.stdout)
        XCTAssertTrue(second.stdout.contains("restored (12 files)"), second.stdout)
        XCTAssertTrue(second.stdout.contains("cache `empty-3.12`: not found"), "an empty save stored nothing: \(second.stdout)")

        let saved = try await CLI.shell(Self.listing, in: base + "/one/.cache")
        let restored = try await CLI.shell(Self.listing, in: base + "/two/.cache")
        XCTAssertEqual(restored, saved)
        XCTAssertTrue(saved.contains("l 777 24 ./uv-py3.12/dangling -> /nonexistent/uv/dangling"), saved)
        XCTAssertTrue(saved.contains("f 444 6 ./uv-py3.12/wheels/w.whl"), saved)
        let links = "for l in $(find . -type l | sort); do echo \"$l $(readlink \"$l\")\"; done"
        let savedLinks = try await CLI.shell(links, in: base + "/one/.cache")
        let restoredLinks = try await CLI.shell(links, in: base + "/two/.cache")
        XCTAssertEqual(restoredLinks, savedLinks)
        XCTAssertTrue(savedLinks.contains("./uv-py3.12/abs-into-workspace \(base)/one/src/app.py"), "kept as written: \(savedLinks)")
        let home1 = try await CLI.shell(Self.listing, in: base + "/home1/.cache")
        let home2 = try await CLI.shell(Self.listing, in: base + "/home2/.cache")
        XCTAssertEqual(home2, home1)
        XCTAssertTrue(home1.contains("./pip-3.12/link -> /etc/hostname"), home1)
    }
}
