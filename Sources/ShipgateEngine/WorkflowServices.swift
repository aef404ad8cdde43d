import Foundation
import ShipgateExpressions
import ShipgateModel
import ShipgatePlanning
import ShipgateProcess

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A job's `services:` as local processes (docs.github.com, "About service containers";
/// the images' documented environment).
///
/// Contract:
/// - Before the job's first step (and its `pre` steps), each service whose image is not empty
///   is started from the host's packages (`ServiceImage`): a fresh data directory, listening
///   on localhost only, on the host port its `ports:` entry maps the image's port to
///   (`5432:5432`), else on a free port. `job.services.<id>.ports['<container port>']` is that
///   port; `job.services.<id>.id` is the service's process id.
/// - The image's environment is honoured: `POSTGRES_USER` (default `postgres`),
///   `POSTGRES_PASSWORD` (required unless `POSTGRES_HOST_AUTH_METHOD=trust`, as the image
///   does), `POSTGRES_DB` (default the user).
/// - The job starts once each service answers (its protocol's own check), then its
///   `--health-cmd`, when given, passes (`--health-retries` tries, `--health-interval` apart,
///   at most 10 s between), run on the host with `PGHOST`/`PGPORT`/`PGUSER`/`PGPASSWORD`/
///   `PGDATABASE`, `REDIS_HOST`/`REDIS_PORT` set; a health command that names the image's
///   default port implicitly is run only when the service listens on it.
/// - When the job ends (whatever happened), each service is stopped and its data removed;
///   its process group is also in the job's groups, so a crash of shipgate kills it too (the
///   orphan reaper), and the next service start removes the data directories such a crash
///   left (each names the shipgate that made it).
extension JobExecutor {
    struct RunningService {
        var id: String
        var kind: ServiceImage
        var directory: String
        var port: Int
        var pid: String
    }

    /// A free TCP port on 127.0.0.1 (bound and released: another process could take it first,
    /// which the service's start then reports).
    static func freePort() -> Int? { bindLoopback(0) }

    /// Whether nothing listens on `port` of 127.0.0.1 (a bind succeeds).
    static func isFree(_ port: Int) -> Bool { bindLoopback(port) != nil }

    /// Binds a TCP socket to 127.0.0.1:`port` (0: any) and closes it; the port bound, or nil.
    private static func bindLoopback(_ port: Int) -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        return bound ? Int(UInt16(bigEndian: address.sin_port)) : nil
    }

    /// `--health-cmd X --health-interval 10s --health-retries 5` of `options:` (docker's flags,
    /// with shell-like quoting).
    static func healthOptions(_ options: String?) -> (command: String?, interval: Double, retries: Int) {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var inWord = false
        for c in options ?? "" {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
                inWord = true
            } else if c == " " || c == "\t" || c == "\n" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(c)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        var values: [String: String] = [:]
        var i = 0
        while i < words.count {
            let word = words[i]
            if let eq = word.firstIndex(of: "="), word.hasPrefix("--") {
                values[String(word[..<eq])] = String(word[word.index(after: eq)...])
            } else if word.hasPrefix("--"), i + 1 < words.count {
                values[word] = words[i + 1]
                i += 1
            }
            i += 1
        }
        func seconds(_ text: String?) -> Double? {
            guard var t = text?.lowercased(), !t.isEmpty else { return nil }
            var scale = 1.0
            if t.hasSuffix("ms") {
                scale = 0.001
                t.removeLast(2)
            } else if t.hasSuffix("s") {
                t.removeLast()
            } else if t.hasSuffix("m") {
                scale = 60
                t.removeLast()
            }
            return Double(t).map { $0 * scale }
        }
        return (values["--health-cmd"], min(10, seconds(values["--health-interval"]) ?? 1), max(1, Int(values["--health-retries"] ?? "") ?? 10))
    }

    /// The host port a service listens on: the one `ports:` maps the image's port to, else free.
    static func hostPort(_ ports: [String], containerPort: Int) -> Int? {
        for entry in ports {
            let spec = entry.split(separator: "/").first.map(String.init) ?? entry
            let parts = spec.split(separator: ":").map(String.init)
            guard let container = parts.last.flatMap({ Int($0) }), container == containerPort else { continue }
            if parts.count >= 2, let host = Int(parts[parts.count - 2]), (1...65535).contains(host) { return host }
        }
        return nil
    }

    /// Starts the job's services; on a failure, those already started are stopped.
    func startServices(
        _ github: GitHubJob, context: WorkflowJobContext, scope: ExpressionScope, pgids: inout [Int32]
    ) async -> (running: [RunningService], value: ExpressionValue, failure: String?) {
        var running: [RunningService] = []
        var values: [(String, ExpressionValue)] = []
        for service in github.services {
            do {
                let image = try ExpressionTemplate.parse(service.image).text(in: scope)
                if image.isEmpty { continue }  // GitHub starts no service for an empty image
                guard let kind = ServiceImage(image: image) else {
                    throw ExpressionError(ServiceImage.refusal(image: image, id: service.id) ?? "unknown image")
                }
                var env: [String: String] = [:]
                for entry in service.env { env[entry.name] = try ExpressionTemplate.parse(entry.text).text(in: scope) }
                let ports = try service.ports.map { try ExpressionTemplate.parse($0).text(in: scope) }
                let started = try await startService(
                    service.id, kind: kind, image: image, env: env, ports: ports, dockerOptions: service.options, context: context, pgids: &pgids)
                running.append(started)
                var portValues: [(String, ExpressionValue)] = [(String(kind.defaultPort), .string(String(started.port)))]
                for entry in ports {
                    let container = entry.split(separator: "/").first.flatMap { $0.split(separator: ":").last }.map(String.init) ?? entry
                    if container != String(kind.defaultPort) { portValues.append((container, .string(String(started.port)))) }
                }
                values.append(
                    (
                        service.id,
                        .object(
                            ExpressionObject([
                                ("id", .string(started.pid)), ("network", .string("host")), ("ports", .object(ExpressionObject(portValues))),
                            ]))
                    ))
            } catch {
                await stopServices(running, context: context, pgids: &pgids)
                return ([], .null, "service `\(service.id)` (\(service.location)): \((error as? ExpressionError)?.message ?? "\(error)")")
            }
        }
        return (running, .object(ExpressionObject(values)), nil)
    }

    private func startService(
        _ id: String, kind: ServiceImage, image: String, env given: [String: String], ports: [String], dockerOptions: String?,
        context: WorkflowJobContext, pgids: inout [Int32]
    ) async throws(ExpressionError) -> RunningService {
        let mapped = Self.hostPort(ports, containerPort: kind.defaultPort)
        if let mapped, !Self.isFree(mapped) {
            throw ExpressionError(
                "port \(mapped) (`ports:` maps \(kind.defaultPort) to it) is in use on this host, by another job's service or a server here: map it as `- \(kind.defaultPort)` and read `job.services.\(id).ports[\(kind.defaultPort)]`, or run such jobs one at a time (--jobs 1)"
            )
        }
        guard let port = mapped ?? Self.freePort() else { throw ExpressionError("no free port on 127.0.0.1") }
        // Only the values the image reads, under shipgate's own names: a service's `env:` never
        // sets the script's own variables (`BASH_ENV`, `PATH`, functions).
        var env = options.baseEnvironment
        env["SG_PORT"] = String(port)
        env["SG_KIND"] = kind.rawValue
        env["SG_ID"] = id
        let health = Self.healthOptions(dockerOptions)
        env["SG_HEALTH"] = health.command ?? ""
        env["SG_HEALTH_INTERVAL"] = String(health.interval)
        env["SG_HEALTH_RETRIES"] = String(health.retries)
        env["SG_DEFAULT_PORT"] = String(kind.defaultPort)
        if kind == .postgres {
            let user = given["POSTGRES_USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "postgres"
            let method = given["POSTGRES_HOST_AUTH_METHOD"] ?? ""
            if (given["POSTGRES_PASSWORD"] ?? "").isEmpty && method != "trust" {
                throw ExpressionError(
                    "the postgres image needs POSTGRES_PASSWORD (\"Database is uninitialized and superuser password is not specified\"), or POSTGRES_HOST_AUTH_METHOD=trust"
                )
            }
            env["SG_PG_USER"] = user
            env["SG_PG_PASSWORD"] = given["POSTGRES_PASSWORD"] ?? ""
            env["SG_PG_DB"] = given["POSTGRES_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? user
            env["SG_PG_AUTH"] = method.isEmpty ? "scram-sha-256" : method
            let (_, tag) = ServiceImage.split(image)
            env["SG_PG_WANTED"] = tag.flatMap { $0.split(separator: ".").first.flatMap { Int($0.prefix { $0.isNumber }) } }.map(String.init) ?? ""
        }
        if kind == .mysql {
            // The mysql and mariadb images' variables (MARIADB_* first, as that image reads them).
            func value(_ names: String...) -> String? { names.lazy.compactMap { given[$0].flatMap { $0.isEmpty ? nil : $0 } }.first }
            let root = value("MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD")
            let allowEmpty = value("MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", "MYSQL_ALLOW_EMPTY_PASSWORD") != nil
            let random = value("MARIADB_RANDOM_ROOT_PASSWORD", "MYSQL_RANDOM_ROOT_PASSWORD") != nil
            guard root != nil || allowEmpty || random else {
                throw ExpressionError(
                    "the \(ServiceImage.split(image).name) image needs MYSQL_ROOT_PASSWORD (or MYSQL_ALLOW_EMPTY_PASSWORD / MYSQL_RANDOM_ROOT_PASSWORD; MARIADB_* for mariadb): \"Database is uninitialized and password option is not specified\""
                )
            }
            env["SG_MY_ROOT_PASSWORD"] = root ?? (random ? UUID().uuidString : "")
            env["SG_MY_DATABASE"] = value("MARIADB_DATABASE", "MYSQL_DATABASE") ?? ""
            env["SG_MY_USER"] = value("MARIADB_USER", "MYSQL_USER") ?? ""
            env["SG_MY_PASSWORD"] = value("MARIADB_PASSWORD", "MYSQL_PASSWORD") ?? ""
            env["SG_MY_IMAGE"] = ServiceImage.split(image).name
        }
        let log = context.log
        let jobID = context.job.id
        let observer = self.observer
        let masker = self.masker
        if let password = env["SG_MY_ROOT_PASSWORD"], !password.isEmpty { masker.learn([password]) }
        log.mark("-- service \(id): \(image) on 127.0.0.1:\(port) --")
        observer.handle(.output(job: jobID, line: "service \(id): starting \(image) on 127.0.0.1:\(port)"))
        let readyLine = Locked<[String]?>(nil)
        let remaining = context.deadline - ContinuousClock().now
        let outcome = await runner.run(
            ProcessRequest(
                argv: namespaces.wrap(["bash", "-c", Self.serviceStartScript], job: jobID),
                environment: ProcessEnvironment(base: environmentBase, overrides: env),
                workingDirectory: context.workspace, timeout: TimeSpan(milliseconds: max(0, min(remaining.milliseconds, 300_000))),
                killGrace: self.options.killGrace),
            cancellation: cancellation
        ) { line in
            // The script's last line on success: `ready <directory> <pid>`.
            if line.text.hasPrefix("ready ") {
                // `ready PID DIR`: the directory is the rest of the line (it may hold spaces).
                let rest = line.text.dropFirst(6)
                if let space = rest.firstIndex(of: " ") {
                    readyLine.withLock { $0 = ["ready", String(rest[..<space]), String(rest[rest.index(after: space)...])] }
                }
                return
            }
            let text = masker(line.text)
            log.write("service \(id): \(text)")
            observer.handle(.output(job: jobID, line: "service \(id): \(text)"))
        }
        if let pid = outcome.pid { pgids.append(pid) }
        let ready = readyLine.value ?? []
        guard outcome.succeeded, ready.count >= 3 else {
            switch outcome.termination {
            case .exited(127): throw ExpressionError("\(kind.package) is not installed here: install it (apt install \(kind.package))")
            case .timedOut: throw ExpressionError("did not become ready in time")
            default: throw ExpressionError("did not start (see the lines above and \(log.path))")
            }
        }
        return RunningService(id: id, kind: kind, directory: ready[2], port: port, pid: ready[1])
    }

    /// Stops the services (each given a few seconds, then its group is killed with the job's).
    func stopServices(_ services: [RunningService], context: WorkflowJobContext, pgids: inout [Int32]) async {
        for service in services.reversed() {
            var env = options.baseEnvironment
            env["SG_DIR"] = service.directory
            env["SG_PID"] = service.pid
            env["SG_KIND"] = service.kind.rawValue
            let log = context.log
            let id = service.id
            let outcome = await runner.run(
                ProcessRequest(
                    argv: namespaces.wrap(["bash", "-c", Self.serviceStopScript], job: context.job.id),
                    environment: ProcessEnvironment(base: environmentBase, overrides: env), workingDirectory: "/", timeout: TimeSpan(milliseconds: 15_000),
                    killGrace: options.killGrace),
                cancellation: CancellationToken()
            ) { line in log.write("service \(id): \(line.text)") }
            if let pid = outcome.pid { pgids.append(pid) }
            log.mark("-- service \(id) stopped --")
        }
    }

    /// Prepares the data directory, starts the server in the background (in this script's
    /// process group), waits for it, runs the health command; prints `ready DIR PID` last.
    static let serviceStartScript = #"""
        set -u
        fail() { echo "$*" >&2; [ -n "${dir:-}" ] && [ -f "$dir/server.log" ] && tail -n 20 "$dir/server.log" >&2; exit "${2:-1}"; }
        # Until `ready`, any way out (a failure, a timeout's SIGTERM) takes the server and its data with it.
        cleanup() { [ -n "${pid:-}" ] && kill -KILL "$pid" 2>/dev/null; [ -n "${dir:-}" ] && rm -rf "$dir"; }
        trap cleanup EXIT
        trap 'exit 143' TERM INT
        base=${TMPDIR:-/tmp}; [ "$(id -u)" = 0 ] && base=/tmp  # the postgres user must reach it
        # What a shipgate killed with -9 left (its processes died with it: the orphan reaper).
        for stale in "$base"/shipgate-service-*; do
          [ -f "$stale/owner" ] && ! kill -0 "$(cat "$stale/owner")" 2>/dev/null && rm -rf "$stale"
        done
        dir=$(mktemp -d "$base/shipgate-service-XXXXXX") || fail "cannot create a data directory"
        chmod 700 "$dir"
        echo "$PPID" > "$dir/owner"
        port=$SG_PORT
        case "$SG_KIND" in
        postgres)
          # The major the image's tag asks for when installed, else the newest.
          pgbin=
          [ -n "$SG_PG_WANTED" ] && [ -x "/usr/lib/postgresql/$SG_PG_WANTED/bin/initdb" ] && pgbin=/usr/lib/postgresql/$SG_PG_WANTED/bin
          [ -n "$pgbin" ] || pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
          [ -n "$pgbin" ] || pgbin=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
          [ -x "$pgbin/initdb" ] || { echo "postgresql is not installed here: install it (apt install postgresql)"; exit 127; }
          have=$("$pgbin/postgres" --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
          if [ -n "$SG_PG_WANTED" ] && [ "$SG_PG_WANTED" != "$have" ]; then echo "warning: the image asks for PostgreSQL $SG_PG_WANTED; this host has $have"; fi
          runas=()
          if [ "$(id -u)" = 0 ]; then id postgres >/dev/null 2>&1 || fail "running as root needs the postgres user to run PostgreSQL"; runas=(setpriv --reuid=postgres --regid=postgres --init-groups --); chown postgres "$dir"; fi
          umask 077
          printf '%s\n' "$SG_PG_PASSWORD" > "$dir/pw"
          [ "$(id -u)" = 0 ] && chown postgres "$dir/pw"
          "${runas[@]}" "$pgbin/initdb" -D "$dir/data" -U "$SG_PG_USER" --auth-local=trust --auth-host="$SG_PG_AUTH" --pwfile="$dir/pw" -E UTF8 --no-sync > "$dir/server.log" 2>&1 || fail "initdb failed"
          rm -f "$dir/pw"
          "${runas[@]}" "$pgbin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=localhost -c dynamic_shared_memory_type=mmap -c fsync=off >> "$dir/server.log" 2>&1 < /dev/null &
          pid=$!
          check() { "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$port"; }
          ;;
        mysql)
          command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || { echo "mariadb-server is not installed here: install it (apt install mariadb-server)"; exit 127; }
          PATH=$PATH:/usr/sbin
          [ "$SG_MY_IMAGE" = mysql ] && echo "note: the mysql image runs as MariaDB $(mariadbd --version | sed -E 's/.*Ver ([0-9.]+).*/\1/') here"
          user=(); [ "$(id -u)" = 0 ] && { id mysql >/dev/null 2>&1 || fail "running as root needs the mysql user to run MariaDB"; chown mysql "$dir"; user=(--user=mysql); }
          mariadb-install-db --no-defaults --datadir="$dir/data" "${user[@]}" --auth-root-authentication-method=normal --skip-test-db > "$dir/server.log" 2>&1 || fail "mariadb-install-db failed"
          mariadbd --no-defaults --datadir="$dir/data" --port="$port" --bind-address=127.0.0.1 --socket="$dir/sock" --pid-file="$dir/mariadb.pid" \
            "${user[@]}" --skip-name-resolve --skip-log-bin --innodb-buffer-pool-size=32M >> "$dir/server.log" 2>&1 < /dev/null &
          pid=$!
          check() { mysqladmin --no-defaults --socket="$dir/sock" -uroot ping > /dev/null 2>&1; }
          ;;
        redis)
          command -v redis-server >/dev/null || { echo "redis-server is not installed here: install it (apt install redis-server)"; exit 127; }
          bind=(127.0.0.1)
          # `-::1` (IPv6 when the host has it) is Redis 7's syntax.
          [ "$(redis-server --version | sed -E 's/.*v=([0-9]+).*/\1/')" -ge 7 ] 2>/dev/null && bind+=(-::1)
          redis-server --port "$port" --bind "${bind[@]}" --save "" --appendonly no --dir "$dir" --daemonize no > "$dir/server.log" 2>&1 < /dev/null &
          pid=$!
          check() { exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1; printf 'PING\r\n' >&3; read -r -t 1 reply <&3; exec 3<&-; [ "${reply%$'\r'}" = "+PONG" ]; }
          ;;
        memcached)
          command -v memcached >/dev/null || { echo "memcached is not installed here: install it (apt install memcached)"; exit 127; }
          user=(); [ "$(id -u)" = 0 ] && user=(-u nobody)
          memcached -l 127.0.0.1 -p "$port" -U 0 "${user[@]}" > "$dir/server.log" 2>&1 < /dev/null &
          pid=$!
          check() { exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1; printf 'version\r\n' >&3; read -r -t 1 reply <&3; exec 3<&-; [ "${reply#VERSION}" != "$reply" ]; }
          ;;
        esac
        ok=
        for _ in $(seq 1 600); do
          kill -0 "$pid" 2>/dev/null || fail "the server exited"
          if check 2>/dev/null; then ok=1; break; fi
          sleep 0.05
        done
        [ -n "$ok" ] || fail "the server did not answer on 127.0.0.1:$port"
        if [ "$SG_KIND" = mysql ]; then
          # As the image's entrypoint: root from anywhere with the password, the database, the user.
          sq() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"; }
          bq() { printf '%s' "$1" | sed -e 's/`/``/g'; }
          pw=$(sq "$SG_MY_ROOT_PASSWORD")
          # mariadb-install-db also makes password-less root@127.0.0.1 and root@::1, which a TCP
          # client would match first; the image keeps only root@localhost and root@'%'.
          sql="DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', 'root'@'$(sq "$(hostname 2>/dev/null || uname -n)")', ''@'localhost', ''@'%'; CREATE USER 'root'@'%' IDENTIFIED BY '$pw'; GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION; ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw';"
          [ -n "$SG_MY_DATABASE" ] && sql="$sql CREATE DATABASE IF NOT EXISTS \`$(bq "$SG_MY_DATABASE")\`;"
          if [ -n "$SG_MY_USER" ]; then
            sql="$sql CREATE USER '$(sq "$SG_MY_USER")'@'%' IDENTIFIED BY '$(sq "$SG_MY_PASSWORD")';"
            [ -n "$SG_MY_DATABASE" ] && sql="$sql GRANT ALL ON \`$(bq "$SG_MY_DATABASE")\`.* TO '$(sq "$SG_MY_USER")'@'%';"
          fi
          printf '%s\n' "$sql" | mariadb --no-defaults --socket="$dir/sock" -uroot || fail "cannot create the users and database"
        fi
        if [ "$SG_KIND" = postgres ] && [ "$SG_PG_DB" != "$SG_PG_USER" ]; then
          "$pgbin/createdb" -h "$dir" -p "$port" -U "$SG_PG_USER" "$SG_PG_DB" || fail "cannot create the database $SG_PG_DB"
        fi
        if [ -n "$SG_HEALTH" ]; then
          [ "$SG_KIND" = postgres ] && PATH=$pgbin:$PATH  # pg_isready and psql, as in the image
          export PGHOST=127.0.0.1 PGPORT=$port PGUSER=${SG_PG_USER:-postgres} PGPASSWORD=${SG_PG_PASSWORD:-} PGDATABASE=${SG_PG_DB:-postgres} REDIS_HOST=127.0.0.1 REDIS_PORT=$port
          if [ "$SG_KIND" != postgres ] && [ "$SG_KIND" != mysql ] && [ "$port" != "$SG_DEFAULT_PORT" ]; then
            echo "health-cmd not run: it would reach the image's default port $SG_DEFAULT_PORT, and the service listens on $port (shipgate's own check passed)"
          else
            if [ "$SG_KIND" = mysql ]; then
              # Option files win over the environment: a ~/.my.cnf (read last) points the
              # clients at this server, as the container's defaults would.
              mkdir -p "$dir/client" && umask 077
              printf '[client]\nhost=127.0.0.1\nport=%s\nsocket=%s\nuser=root\npassword="%s"\n' "$port" "$dir/sock" "$(printf '%s' "$SG_MY_ROOT_PASSWORD" | sed 's/["\\]/\\&/g')" > "$dir/client/.my.cnf"
              export HOME=$dir/client
            fi
            healthy=
            for _ in $(seq 1 "$SG_HEALTH_RETRIES"); do
              if bash -c "$SG_HEALTH" > /dev/null 2>&1; then healthy=1; break; fi
              sleep "$SG_HEALTH_INTERVAL"
            done
            [ -n "$healthy" ] || fail "health-cmd failed $SG_HEALTH_RETRIES times: $SG_HEALTH"
          fi
        fi
        trap - EXIT
        echo "ready $pid $dir"
        """#

    static let serviceStopScript = #"""
        set -u
        # Gone, or a zombie (shipgate, its subreaper, reaps it): `kill -0` alone would wait for that.
        alive() { local s; s=$(sed 's/.*) //' "/proc/$SG_PID/stat" 2>/dev/null | cut -d' ' -f1); [ -n "$s" ] && [ "$s" != Z ]; }
        [ -n "$SG_PID" ] && alive && {
          if [ "$SG_KIND" = postgres ]; then kill -QUIT "$SG_PID"; else kill -TERM "$SG_PID"; fi
          for _ in $(seq 1 200); do alive || break; sleep 0.05; done
          kill -KILL "$SG_PID" 2>/dev/null
        }
        case "$SG_DIR" in */shipgate-service-*) rm -rf "$SG_DIR" ;; esac
        exit 0
        """#
}
