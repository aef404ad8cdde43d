import Foundation
import PostgresNIO
import ShipgateState
import Synchronization

/// The state store on PostgreSQL: the same tables, records and contract as `SQLiteStateStore`,
/// for runners on many machines sharing one database.
///
/// Connections come from postgres-nio's pool and survive the database: see `PostgresSession`
/// for reconnecting, retries that never apply a write twice, and timeouts. Rows travel as JSON
/// (`row_to_json` out, `json_populate_record` in), so the records are decoded by the same
/// `Codable` conformances as on SQLite.
///
/// Leases: a run begun here and each deploy lock held here carry `leaseUntil` (the database's
/// clock), renewed every third of `leaseDuration` while this process lives. A run whose lease
/// ran out (its runner died, on whatever host) reads as `interrupted` and can be resumed from
/// any runner; a lock whose lease ran out is stale and the next runner takes it. On this host
/// a dead holder is seen at once by its pid. Audit appends take a transaction-level advisory
/// lock, so appends from many runners form one chain; migrations run under one too, so runners
/// starting at once apply each version exactly once.
public final class PostgresStateStore: StateStore, Sendable {
    public let url: PostgresURL
    public var location: String { url.redacted }
    /// How long a run or lock of this process stays live without renewal (`SHIPGATE_PG_LEASE`, seconds).
    public let leaseDuration: Duration
    let session: PostgresSession
    /// Runs begun and locks (name, run, job) taken through this handle, whose leases it renews.
    private let held = Mutex<(runs: Set<String>, locks: Set<HeldLock>)>(([], []))

    struct HeldLock: Hashable, Sendable {
        var name: String
        var runID: String
        var job: String
    }
    private let heartbeat = Mutex<Task<Void, Never>?>(nil)
    private let leaseLost = Mutex<(@Sendable (String) -> Void)?>(nil)
    /// When a renewal last went through (for the fencing rule in `renewLeases`).
    private let renewedAt = Mutex<ContinuousClock.Instant?>(nil)

    static let migrationLock: Int64 = 0x5348_4950_0001
    static let auditLock: Int64 = 0x5348_4950_0002

    public init(url text: String, environment: [String: String] = ProcessInfo.processInfo.environment) async throws {
        url = try PostgresURL(text, environment: environment)
        var lease = Duration.seconds(60)
        if let t = environment["SHIPGATE_PG_LEASE"], let seconds = Double(t), seconds > 0 { lease = .milliseconds(Int64(seconds * 1000)) }
        leaseDuration = lease
        // One direct connection first: a wrong address, password or database is said at once,
        // in PostgreSQL's words, instead of after the pool's patient retries.
        try await Self.check(url)
        session = try PostgresSession(url, settings: .from(environment))
        do { try await migrate() } catch {
            session.close()
            throw error
        }
        startHeartbeat()
    }

    deinit {
        heartbeat.withLock { $0?.cancel() }
        session.close()
    }

    static func connectionConfiguration(_ url: PostgresURL) throws -> PostgresConnection.Configuration {
        var config: PostgresConnection.Configuration
        if let socket = url.socketPath {
            config = .init(unixSocketPath: socket, username: url.user, password: url.password, database: url.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch url.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            config = .init(host: url.host ?? "127.0.0.1", port: url.port, username: url.user, password: url.password, database: url.database, tls: tls)
        }
        config.options.connectTimeout = .seconds(10)
        return config
    }

    static func check(_ url: PostgresURL) async throws {
        do {
            let connection = try await PostgresConnection.connect(
                on: PostgresConnection.defaultEventLoopGroup.any(), configuration: try connectionConfiguration(url), id: Int(getpid()),
                logger: PostgresSession.logger)
            try? await connection.close()
        } catch {
            throw PostgresStoreError.connect("\(url.redacted): \(PostgresSession.describe(error))")
        }
    }

    /// Runs one administrative statement (`CREATE DATABASE …`) on the server `url` names, without
    /// touching shipgate's tables there. For tests and for preparing a database. Returns the
    /// rows' first column as text.
    @discardableResult
    public static func administer(_ url: String, _ sql: String) async throws -> [String?] {
        let parsed = try PostgresURL(url)
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: PostgresConnection.defaultEventLoopGroup.any(), configuration: try connectionConfiguration(parsed), id: Int(getpid()),
                logger: PostgresSession.logger)
        } catch {
            throw PostgresStoreError.connect("\(parsed.redacted): \(PostgresSession.describe(error))")
        }
        defer { Task { try? await connection.close() } }
        do {
            var out: [String?] = []
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: PostgresSession.logger) {
                out.append(row.count == 0 ? nil : try row.decode(String?.self))
            }
            return out
        } catch {
            throw PostgresStoreError.query(PostgresSession.describe(error))
        }
    }

    // MARK: - Plumbing

    private func write<T: Sendable>(
        _ what: String, retry: PostgresSession.Retry<T> = .idempotent, _ body: @escaping @Sendable (Transaction) async throws -> T
    ) async throws -> T {
        try await session.transaction(what, retry: retry, body)
    }

    private func read<T: Decodable & Sendable>(_ type: T.Type, _ select: String, _ binds: [Bind] = []) async throws -> [T] {
        try await session.read("read") { try await $0.rows(T.self, select, binds) }
    }

    private var leaseInterval: String {
        "\(leaseDuration.components.seconds * 1000 + leaseDuration.components.attoseconds / 1_000_000_000_000_000) milliseconds"
    }

    /// Runs as the database sees them: a `running` run whose lease ran out reads `interrupted`.
    static let runsSelect =
        "SELECT "
        + columns["runs"]!.map {
            $0 == "status" ? "CASE WHEN \"status\" = 'running' AND \"leaseUntil\" < now() THEN 'interrupted' ELSE \"status\" END AS \"status\"" : "\"\($0)\""
        }
        .joined(separator: ", ") + " FROM runs"

    // MARK: - Runs

    public func beginRun(_ run: RunRow) async throws {
        let interval = leaseInterval
        try await write("begin run \(run.id)") { tx in
            // Serializes takeovers of one run across runners: two resumes cannot both win.
            try await tx.exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))::text", [.text(run.id)])
            if var existing = try await tx.rows(RunRow.self, "SELECT * FROM runs WHERE \"id\" = $1", [.text(run.id)]).first {
                let ours = existing.pid == run.pid && existing.host == run.host
                // An `interrupted` run of this host whose process lives (it lost its lease in an
                // outage and will stop itself) is not taken over either.
                if existing.status == "running" || existing.status == "interrupted", !ours {
                    let leaseLive =
                        try await tx.exec("SELECT (\"leaseUntil\" IS NULL OR \"leaseUntil\" > now())::text FROM runs WHERE \"id\" = $1", [.text(run.id)])
                        .first == "true"
                    let alive =
                        existing.host == ProcessLiveness.host
                        ? ProcessLiveness.isAlive(pid: existing.pid, host: existing.host) : (existing.status == "running" && leaseLive)
                    if alive { throw PostgresStoreError.query("run \(run.id) is already running (pid \(existing.pid) on \(existing.host))") }
                }
                existing.status = "running"
                existing.pid = run.pid
                existing.host = run.host
                // A takeover runs in the new runner's checkout: later resumes look there.
                existing.pipelineFile = run.pipelineFile
                existing.workspace = run.workspace
                existing.finishedAt = nil
                try await tx.put(existing, into: "runs", columns: Self.columns["runs"]!, key: ["id"], update: true)
            } else {
                try await tx.put(run, into: "runs", columns: Self.columns["runs"]!, key: nil, update: false)
            }
            try await tx.exec("UPDATE runs SET \"leaseUntil\" = now() + $2::interval WHERE \"id\" = $1", [.text(run.id), .text(interval)])
        }
        held.withLock { _ = $0.runs.insert(run.id) }
        renewedAt.withLock { $0 = ContinuousClock.now }
    }

    public func finishRun(_ id: String, status: String, at: Date) async throws {
        try await write("finish run \(id)") { tx in
            try await tx.exec(
                "UPDATE runs SET \"status\" = $1, \"finishedAt\" = $2, \"leaseUntil\" = NULL WHERE \"id\" = $3",
                [.text(status), .text(StateTime.string(at)), .text(id)])
        }
        held.withLock { _ = $0.runs.remove(id) }
    }

    public func save(jobs: [JobRow], attempts: [AttemptRow]) async throws {
        try await write("save jobs") { tx in
            for j in jobs { try await tx.put(j, into: "jobs", columns: Self.columns["jobs"]!, key: ["runID", "id"], update: true) }
            for a in attempts { try await tx.put(a, into: "attempts", columns: Self.columns["attempts"]!, key: ["runID", "job", "attempt"], update: true) }
        }
    }

    public func run(_ id: String) async throws -> RunRow? {
        try await read(RunRow.self, Self.runsSelect + " WHERE \"id\" = $1", [.text(id)]).first
    }

    public func jobs(ofRun id: String) async throws -> [JobRow] {
        try await read(JobRow.self, "SELECT * FROM jobs WHERE \"runID\" = $1", [.text(id)])
    }

    public func attempts(ofRun id: String) async throws -> [AttemptRow] {
        try await read(AttemptRow.self, "SELECT * FROM attempts WHERE \"runID\" = $1 ORDER BY \"job\", \"attempt\"", [.text(id)])
    }

    public func runs(limit: Int) async throws -> [RunRow] { try await runs(limit: limit, offset: 0) }

    public func runs(limit: Int, offset: Int) async throws -> [RunRow] {
        try await read(RunRow.self, Self.runsSelect + " ORDER BY \"startedAt\" DESC, \"id\" DESC LIMIT \(max(0, limit)) OFFSET \(max(0, offset))")
    }

    public func metrics() async throws -> StateMetrics {
        let queries = StateMetrics.queries
        let answers = try await write("metrics") { tx in
            var answers: [String: [String?]] = [:]
            for sql in queries { answers[sql] = try await tx.exec(sql) }
            return answers
        }
        return try StateMetrics.collect { answers[$0] ?? [] }
    }

    public func findRun(_ prefix: String) async throws -> RunRow? {
        if prefix == "last" { return try await read(RunRow.self, Self.runsSelect + " ORDER BY \"startedAt\" DESC, \"id\" DESC LIMIT 1").first }
        if let exact = try await read(RunRow.self, Self.runsSelect + " WHERE \"id\" = $1", [.text(prefix)]).first { return exact }
        let matches = try await read(RunRow.self, Self.runsSelect + " WHERE starts_with(\"id\", $1) ORDER BY \"id\" DESC LIMIT 2", [.text(prefix)])
        return matches.count == 1 ? matches[0] : nil
    }

    /// Runs and deploys of this host whose process is gone, and of any host whose lease ran out.
    public func markInterrupted() async throws -> [String] {
        try await write("mark interrupted runs") { tx in
            var marked: [String] = []
            for run in try await tx.rows(RunRow.self, "SELECT * FROM runs WHERE \"status\" = 'running' AND \"host\" = $1", [.text(ProcessLiveness.host)])
            where !ProcessLiveness.isAlive(pid: run.pid, host: run.host) {
                try await tx.exec("UPDATE runs SET \"status\" = 'interrupted' WHERE \"id\" = $1 AND \"status\" = 'running'", [.text(run.id)])
                marked.append(run.id)
            }
            for d in try await tx.rows(
                DeploymentRow.self, "SELECT * FROM deployments WHERE \"status\" IN ('deploying', 'verifying', 'rolling-back') AND \"host\" = $1",
                [.text(ProcessLiveness.host)])
            where !ProcessLiveness.isAlive(pid: d.pid, host: d.host) {
                try await tx.exec(
                    "UPDATE deployments SET \"status\" = 'interrupted', \"finishedAt\" = $1, \"detail\" = $2 WHERE \"release\" = $3",
                    [.text(StateTime.string(Date())), .text("shipgate stopped while the deploy was \(d.status)"), .text(d.release)])
            }
            // Other hosts: their runner stopped renewing the lease (it died, or lost the database for longer than the lease).
            try await tx.exec(
                """
                UPDATE deployments SET "status" = 'interrupted', "finishedAt" = $1,
                  "detail" = 'the runner on ' || "host" || ' stopped renewing its lease while the deploy was ' || "status"
                WHERE "status" IN ('deploying', 'verifying', 'rolling-back')
                  AND "runID" IN (SELECT "id" FROM runs WHERE "status" = 'running' AND "leaseUntil" < now())
                """, [.text(StateTime.string(Date()))])
            marked += try await tx.exec(
                "UPDATE runs SET \"status\" = 'interrupted', \"leaseUntil\" = NULL WHERE \"status\" = 'running' AND \"leaseUntil\" < now() RETURNING \"id\""
            ).compactMap { $0 }
            return marked
        }
    }

    // MARK: - Gates and approvals

    public func saveGate(_ gate: GateRow) async throws {
        try await write("save gate") { tx in
            var row = gate
            if let old = try await tx.rows(GateRow.self, "SELECT * FROM gates WHERE \"runID\" = $1 AND \"job\" = $2", [.text(gate.runID), .text(gate.job)])
                .first
            {
                row.requestedAt = old.requestedAt
            }
            try await tx.put(row, into: "gates", columns: Self.columns["gates"]!, key: ["runID", "job"], update: true)
        }
    }

    public func gates(ofRun id: String) async throws -> [GateRow] {
        try await read(GateRow.self, "SELECT * FROM gates WHERE \"runID\" = $1", [.text(id)])
    }

    public func blockedGates() async throws -> [GateRow] {
        try await read(GateRow.self, "SELECT * FROM gates WHERE \"status\" = 'blocked' ORDER BY \"requestedAt\" DESC")
    }

    public func saveApproval(_ approval: ApprovalRow) async throws -> Bool {
        let digest = approval.digest
        return try await write(
            "save approval",
            retry: .landed { tx in try await tx.exec("SELECT 'ok' FROM approvals WHERE \"digest\" = $1", [.text(digest)]).isEmpty ? nil : true }
        ) { tx in
            try await tx.put(approval, into: "approvals", columns: Self.columns["approvals"]!, key: ["digest"], update: false)
        }
    }

    /// The audit lock first (as every audit append takes it), then the statement, then the entry.
    public func saveApproval(_ approval: ApprovalRow, audit event: AuditEvent) async throws -> AuditRow? {
        let appended = Remembered<AuditRow>()
        let answer: AuditRow?? = try await write(
            "save approval",
            retry: .landed { tx in
                // Under the audit lock: a first try still committing on the old connection finishes first.
                try await tx.exec("SELECT pg_advisory_xact_lock(\(Self.auditLock))::text")
                guard let row = appended.get, !(try await tx.exec("SELECT 'ok' FROM audit WHERE \"hash\" = $1", [.text(row.hash)]).isEmpty) else { return nil }
                return .some(row)
            }
        ) { tx -> AuditRow?? in
            try await tx.exec("SELECT pg_advisory_xact_lock(\(Self.auditLock))::text")
            guard try await tx.put(approval, into: "approvals", columns: Self.columns["approvals"]!, key: ["digest"], update: false) else { return .some(nil) }
            let row = event.row(after: try await tx.rows(AuditRow.self, "SELECT * FROM audit ORDER BY \"seq\" DESC LIMIT 1").first)
            appended.set(row)
            try await tx.put(row, into: "audit", columns: Self.columns["audit"]!, key: nil, update: false)
            return .some(row)
        }
        return answer ?? nil
    }

    public func approvals(environment: String, commitID: String) async throws -> [ApprovalRow] {
        try await read(
            ApprovalRow.self, "SELECT * FROM approvals WHERE \"environment\" = $1 AND \"commitID\" = $2 ORDER BY \"issuedAt\", \"id\"",
            [.text(environment), .text(commitID)])
    }

    public func allApprovals() async throws -> [ApprovalRow] {
        try await read(ApprovalRow.self, "SELECT * FROM approvals ORDER BY \"issuedAt\", \"id\"")
    }

    public func approvals(runID: String) async throws -> [ApprovalRow] {
        try await read(ApprovalRow.self, "SELECT * FROM approvals WHERE \"runID\" = $1 ORDER BY \"issuedAt\"", [.text(runID)])
    }

    // MARK: - Deployments

    public func saveDeployment(_ d: DeploymentRow) async throws {
        try await write("save deployment") { tx in
            try await tx.put(d, into: "deployments", columns: Self.columns["deployments"]!, key: ["release"], update: true)
        }
    }

    public func updateDeployment(_ release: String, status: String, detail: String?, finished: Bool, at: Date) async throws {
        try await write("update deployment") { tx in
            try await tx.exec(
                "UPDATE deployments SET \"status\" = $1, \"detail\" = COALESCE($2, \"detail\"), \"finishedAt\" = $3 WHERE \"release\" = $4",
                [.text(status), .text(detail), .text(finished ? StateTime.string(at) : nil), .text(release)])
        }
    }

    public func deployments(environment: String?, status: String?, commitID: String?, limit: Int) async throws -> [DeploymentRow] {
        var conditions: [String] = []
        var binds: [Bind] = []
        for (column, value) in [("environment", environment), ("status", status), ("commitID", commitID)] {
            guard let value else { continue }
            binds.append(.text(value))
            conditions.append("\"\(column)\" = $\(binds.count)")
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        return try await read(
            DeploymentRow.self, "SELECT * FROM deployments\(filter) ORDER BY \"startedAt\" DESC, \"release\" DESC LIMIT \(max(0, limit))", binds)
    }

    public func deployment(_ release: String) async throws -> DeploymentRow? {
        try await read(DeploymentRow.self, "SELECT * FROM deployments WHERE \"release\" = $1", [.text(release)]).first
    }

    // MARK: - Audit

    /// Linear whatever the connection does: when the answer to `COMMIT` is lost, the retry first
    /// looks for the entry by its hash, and appends only when the first try did not land.
    public func appendAudit(kind: String, actor: String, environment: String?, runID: String?, detail: String, at: Date) async throws -> AuditRow {
        let appended = Remembered<AuditRow>()
        return try await write(
            "append to the audit log",
            retry: .landed { tx in
                // Under the audit lock: a first try still committing on the old connection finishes first.
                try await tx.exec("SELECT pg_advisory_xact_lock(\(Self.auditLock))::text")
                guard let row = appended.get, !(try await tx.exec("SELECT 'ok' FROM audit WHERE \"hash\" = $1", [.text(row.hash)]).isEmpty) else { return nil }
                return row
            }
        ) { tx in
            try await tx.exec("SELECT pg_advisory_xact_lock(\(Self.auditLock))::text")
            let last = try await tx.rows(AuditRow.self, "SELECT * FROM audit ORDER BY \"seq\" DESC LIMIT 1").first
            let row = AuditRow.next(after: last, kind: kind, actor: actor, environment: environment, runID: runID, detail: detail, at: at)
            appended.set(row)
            try await tx.put(row, into: "audit", columns: Self.columns["audit"]!, key: nil, update: false)
            return row
        }
    }

    public func importAudit(_ rows: [AuditRow]) async throws {
        let head = rows.last?.hash
        try await write(
            "import the audit log",
            retry: .landed { tx in
                try await tx.exec("SELECT pg_advisory_xact_lock(\(Self.auditLock))::text")
                guard let head, !(try await tx.exec("SELECT 'ok' FROM audit WHERE \"hash\" = $1", [.text(head)]).isEmpty) else { return nil }
                return ()
            }
        ) { tx in
            try await tx.exec("SELECT pg_advisory_xact_lock(\(Self.auditLock))::text")
            guard try await tx.exec("SELECT count(*)::text FROM audit").first == "0" else {
                throw PostgresStoreError.query("the audit log is not empty; refusing to import into it")
            }
            for row in rows { try await tx.put(row, into: "audit", columns: Self.columns["audit"]!, key: nil, update: false) }
        }
    }

    public func auditEntries(environment: String?, afterSeq: Int64) async throws -> [AuditRow] {
        if let environment {
            return try await read(
                AuditRow.self, "SELECT * FROM audit WHERE \"seq\" > $1 AND \"environment\" = $2 ORDER BY \"seq\"", [.int(afterSeq), .text(environment)])
        }
        return try await read(AuditRow.self, "SELECT * FROM audit WHERE \"seq\" > $1 ORDER BY \"seq\"", [.int(afterSeq)])
    }

    public func latestAudit(limit: Int, environment: String?) async throws -> [AuditRow] {
        if let environment {
            return try await read(
                AuditRow.self, "SELECT * FROM audit WHERE \"environment\" = $1 ORDER BY \"seq\" DESC LIMIT \(max(0, limit))", [.text(environment)])
        }
        return try await read(AuditRow.self, "SELECT * FROM audit ORDER BY \"seq\" DESC LIMIT \(max(0, limit))")
    }

    // MARK: - Locks

    /// Each name is decided under a transaction-level advisory lock on it. A lock is held while
    /// its lease runs (and, on this host, while its process lives); a holder's own request is
    /// granted again (a retry after a lost answer).
    public func tryLock(_ names: [String], holder: LockRow) async throws -> LockAttempt {
        let forget: @Sendable () -> Void = { [self] in
            self.held.withLock { h in h.locks = h.locks.filter { !(names.contains($0.name) && $0.runID == holder.runID && $0.job == holder.job) } }
        }
        let outcome: (LockAttempt, String?)
        do { outcome = try await takeLock(names, holder: holder) } catch {
            forget()
            throw error
        }
        if outcome.1 == nil { forget() }
        return outcome.0
    }

    private func takeLock(_ names: [String], holder: LockRow) async throws -> (LockAttempt, String?) {
        let interval = leaseInterval
        return try await write("lock \(names.joined(separator: ", "))") { tx in
            var holders: [LockRow] = []
            for name in names {
                try await tx.exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text", [.text(name)])
                let current = try await tx.rows(
                    LockState.self, "SELECT *, (\"leaseUntil\" IS NOT NULL AND \"leaseUntil\" > now()) AS \"live\" FROM locks WHERE \"name\" = $1",
                    [.text(name)]
                ).first
                var stale: LockRow?
                if let current {
                    let row = current.row
                    // Granted again only to this handle's own holder (a retry after a lost answer).
                    let key = HeldLock(name: name, runID: holder.runID, job: holder.job)
                    let mine =
                        row.runID == holder.runID && row.job == holder.job && row.pid == holder.pid && row.host == holder.host
                        && self.held.withLock { $0.locks.contains(key) }
                    if !mine {
                        let alive = row.host == ProcessLiveness.host ? ProcessLiveness.isAlive(pid: row.pid, host: row.host) : current.live
                        if alive {
                            holders.append(row)
                            continue
                        }
                        stale = row
                    }
                }
                var mine = holder
                mine.name = name
                try await tx.exec("DELETE FROM locks WHERE \"name\" = $1", [.text(name)])
                try await tx.put(mine, into: "locks", columns: Self.columns["locks"]!, key: nil, update: false)
                try await tx.exec("UPDATE locks SET \"leaseUntil\" = now() + $2::interval WHERE \"name\" = $1", [.text(name), .text(interval)])
                // Before COMMIT: a retry after a lost answer must find it its own.
                self.held.withLock { _ = $0.locks.insert(HeldLock(name: name, runID: holder.runID, job: holder.job)) }
                self.renewedAt.withLock { $0 = ContinuousClock.now }
                return (.acquired(stale: stale), name)
            }
            return (.held(by: holders.first!), nil)
        }
    }

    public func unlock(_ names: [String], runID: String, job: String) async throws {
        // Forgotten whatever happens: a lock this process no longer wants is not renewed, so
        // its lease runs out even when the DELETE did not get through.
        held.withLock { h in h.locks = h.locks.filter { !(names.contains($0.name) && $0.runID == runID && $0.job == job) } }
        try await write("unlock") { tx in
            for name in names {
                try await tx.exec("DELETE FROM locks WHERE \"name\" = $1 AND \"runID\" = $2 AND \"job\" = $3", [.text(name), .text(runID), .text(job)])
            }
        }
    }

    public func locks() async throws -> [LockRow] { try await read(LockRow.self, "SELECT * FROM locks") }

    // MARK: - Schema

    static let columns: [String: [String]] = [
        "runs": [
            "id", "pipeline", "pipelineFile", "pipelineDigest", "status", "actor", "commitID", "branch", "version", "workspace", "pid", "host",
            "partial", "selection", "git", "startedAt", "finishedAt",
        ],
        "jobs": ["runID", "id", "status", "record", "finishedAt", "durationMs"],
        "attempts": ["runID", "job", "attempt", "status", "reason", "at"],
        "gates": [
            "runID", "job", "environment", "commitID", "pipelineDigest", "artifacts", "status", "decision", "requestedBy", "requestedAt", "updatedAt",
        ],
        "approvals": ["digest", "decision", "approver", "environment", "commitID", "runID", "issuedAt", "expiresAt", "statement", "recordedAt"],
        "deployments": [
            "release", "environment", "runID", "job", "version", "commitID", "artifacts", "files", "status", "approvedBy", "actor", "detail", "rollbackOf",
            "pid", "host", "startedAt", "finishedAt", "policy",
        ],
        "audit": ["seq", "at", "kind", "actor", "environment", "runID", "detail", "prevHash", "hash"],
        "locks": ["name", "runID", "job", "actor", "pid", "host", "acquiredAt"],
    ]

    static let v1 = """
        CREATE TABLE runs ("id" text PRIMARY KEY, "pipeline" text NOT NULL, "pipelineFile" text NOT NULL, "pipelineDigest" text NOT NULL,
          "status" text NOT NULL, "actor" text NOT NULL, "commitID" text, "branch" text, "version" text, "workspace" text NOT NULL,
          "pid" bigint NOT NULL, "host" text NOT NULL, "partial" boolean NOT NULL DEFAULT false, "selection" text, "git" text,
          "startedAt" text NOT NULL, "finishedAt" text);
        CREATE TABLE jobs ("runID" text NOT NULL REFERENCES runs ON DELETE CASCADE, "id" text NOT NULL, "status" text NOT NULL,
          "record" text NOT NULL, "finishedAt" text, PRIMARY KEY ("runID", "id"));
        CREATE TABLE attempts ("runID" text NOT NULL REFERENCES runs ON DELETE CASCADE, "job" text NOT NULL, "attempt" bigint NOT NULL,
          "status" text NOT NULL, "reason" text, "at" text NOT NULL, PRIMARY KEY ("runID", "job", "attempt"));
        CREATE TABLE gates ("runID" text NOT NULL REFERENCES runs ON DELETE CASCADE, "job" text NOT NULL, "environment" text NOT NULL,
          "commitID" text, "pipelineDigest" text NOT NULL, "artifacts" text NOT NULL, "status" text NOT NULL, "decision" text NOT NULL,
          "requestedBy" text NOT NULL, "requestedAt" text NOT NULL, "updatedAt" text NOT NULL, PRIMARY KEY ("runID", "job"));
        CREATE TABLE approvals ("id" bigserial PRIMARY KEY, "digest" text NOT NULL UNIQUE, "decision" text NOT NULL, "approver" text NOT NULL,
          "environment" text NOT NULL, "commitID" text NOT NULL, "runID" text NOT NULL, "issuedAt" text NOT NULL, "expiresAt" text NOT NULL,
          "statement" text NOT NULL, "recordedAt" text NOT NULL);
        CREATE INDEX approvals_env_commit ON approvals ("environment", "commitID");
        CREATE TABLE deployments ("release" text PRIMARY KEY, "environment" text NOT NULL, "runID" text NOT NULL, "job" text NOT NULL,
          "version" text, "commitID" text, "artifacts" text NOT NULL, "files" text NOT NULL, "status" text NOT NULL, "approvedBy" text NOT NULL,
          "actor" text NOT NULL, "detail" text, "rollbackOf" text, "pid" bigint NOT NULL, "host" text NOT NULL, "startedAt" text NOT NULL,
          "finishedAt" text);
        CREATE INDEX deployments_env ON deployments ("environment", "startedAt");
        CREATE TABLE audit ("seq" bigint PRIMARY KEY, "at" text NOT NULL, "kind" text NOT NULL, "actor" text NOT NULL, "environment" text,
          "runID" text, "detail" text NOT NULL, "prevHash" text NOT NULL, "hash" text NOT NULL);
        CREATE TABLE locks ("name" text PRIMARY KEY, "runID" text NOT NULL, "job" text NOT NULL, "actor" text NOT NULL, "pid" bigint NOT NULL,
          "host" text NOT NULL, "acquiredAt" text NOT NULL)
        """

    /// Applies each schema version once, even when many runners start together.
    private func migrate() async throws {
        try await write("migrate") { tx in
            try await tx.exec("SELECT pg_advisory_xact_lock(\(Self.migrationLock))::text")
            try await tx.exec("CREATE TABLE IF NOT EXISTS shipgate_schema (\"version\" text PRIMARY KEY, \"appliedAt\" text NOT NULL)")
            let applied = Set(try await tx.exec("SELECT \"version\" FROM shipgate_schema").compactMap { $0 })
            let now = StateTime.string(Date())
            if !applied.contains("v1") {
                for statement in Self.v1.split(separator: ";") { try await tx.exec(String(statement)) }
                try await tx.exec("INSERT INTO shipgate_schema VALUES ('v1', $1)", [.text(now)])
            }
            // v2: for the console: indexes for its listings (newest runs, blocked gates, releases
            // by status) and job durations as a column, so metrics need not parse every record.
            if !applied.contains("v2") {
                try await tx.exec("CREATE INDEX runs_started ON runs (\"startedAt\")")
                try await tx.exec("CREATE INDEX gates_status ON gates (\"status\")")
                try await tx.exec("ALTER TABLE jobs ADD COLUMN \"durationMs\" bigint")
                try await tx.exec("UPDATE jobs SET \"durationMs\" = (record::json->>'durationMs')::bigint")
                try await tx.exec("CREATE INDEX jobs_status_duration ON jobs (\"status\", \"durationMs\")")
                try await tx.exec("CREATE INDEX deployments_env_status ON deployments (\"environment\", \"status\", \"startedAt\")")
                try await tx.exec("CREATE INDEX deployments_started ON deployments (\"startedAt\")")
                try await tx.exec("INSERT INTO shipgate_schema VALUES ('v2', $1)", [.text(now)])
            }
            // v3: the trusted policy each release was made under (nil: never a rollback target).
            if !applied.contains("v3") {
                try await tx.exec("ALTER TABLE deployments ADD COLUMN \"policy\" text")
                try await tx.exec("INSERT INTO shipgate_schema VALUES ('v3', $1)", [.text(now)])
            }
            // v4: leases of runs and locks (the database's clock), and audit entries by hash (a
            // retried append asks whether the first try landed).
            if !applied.contains("v4") {
                try await tx.exec("ALTER TABLE runs ADD COLUMN \"leaseUntil\" timestamptz")
                try await tx.exec("ALTER TABLE locks ADD COLUMN \"leaseUntil\" timestamptz")
                try await tx.exec("CREATE UNIQUE INDEX audit_hash ON audit (\"hash\")")
                try await tx.exec("INSERT INTO shipgate_schema VALUES ('v4', $1)", [.text(now)])
            }
        }
    }

    // MARK: - Leases

    private func startHeartbeat() {
        let every = leaseDuration / 4
        let task = Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: every)
                guard let self else { return }
                await self.renewLeases()
            }
        }
        heartbeat.withLock { $0 = task }
    }

    /// Called when this process lost (or can no longer be sure it holds) a lease: the caller
    /// stops what depends on it (the run), since another runner may now take it over.
    public func onLeaseLost(_ handler: @escaping @Sendable (String) -> Void) { leaseLost.withLock { $0 = handler } }

    /// Extends the leases of the runs and locks this process holds, and says when one is lost:
    /// its row was taken over or ended by another runner, or renewals kept failing until less
    /// than a third of a lock's lease was left (it stops before anyone may take the lock).
    func renewLeases() async {
        let (runs, locks) = held.withLock { ($0.runs, $0.locks) }
        guard !runs.isEmpty || !locks.isEmpty else { return }
        let interval = leaseInterval
        let pid = Int64(getpid())
        let renewed = try? await write("renew leases") { tx -> (runs: Set<String>, locks: Set<HeldLock>) in
            var runsKept = Set<String>()
            var locksKept = Set<HeldLock>()
            for id in runs {
                let kept = try await tx.exec(
                    """
                    UPDATE runs SET "leaseUntil" = now() + $2::interval
                    WHERE "id" = $1 AND "status" = 'running' AND "pid" = $3 AND "host" = $4 RETURNING 'ok'
                    """, [.text(id), .text(interval), .int(pid), .text(ProcessLiveness.host)])
                if !kept.isEmpty { runsKept.insert(id) }
            }
            for lock in locks {
                let kept = try await tx.exec(
                    """
                    UPDATE locks SET "leaseUntil" = now() + $2::interval
                    WHERE "name" = $1 AND "runID" = $3 AND "job" = $4 AND "pid" = $5 AND "host" = $6 RETURNING 'ok'
                    """, [.text(lock.name), .text(interval), .text(lock.runID), .text(lock.job), .int(pid), .text(ProcessLiveness.host)])
                if !kept.isEmpty { locksKept.insert(lock) }
            }
            return (runsKept, locksKept)
        }
        let now = ContinuousClock.now
        var lost: [String] = []
        if let renewed {
            renewedAt.withLock { $0 = now }
            // Still held (not released meanwhile) and not renewed: someone else has it now.
            let still = held.withLock { ($0.runs, $0.locks) }
            for id in runs.subtracting(renewed.runs) where still.0.contains(id) { lost.append("run \(id) was taken over or ended by another runner") }
            for lock in locks.subtracting(renewed.locks) where still.1.contains(lock) {
                lost.append("the lock \(lock.name) of run \(lock.runID) was taken by another runner")
            }
        } else if !locks.isEmpty, let last = renewedAt.withLock({ $0 }), now - last > leaseDuration * 2 / 3 {
            lost.append(
                "cannot renew the lease of \(locks.map(\.name).sorted().joined(separator: ", ")) in \(location): stopping before another runner may take it")
        }
        guard !lost.isEmpty, let handler = leaseLost.withLock({ $0 }) else { return }
        for reason in lost { handler(reason) }
    }
}

/// A lock row with whether its lease is still running.
struct LockState: Decodable {
    var row: LockRow
    var live: Bool

    enum Keys: String, CodingKey { case live }

    init(from decoder: any Decoder) throws {
        row = try LockRow(from: decoder)
        live = try decoder.container(keyedBy: Keys.self).decodeIfPresent(Bool.self, forKey: .live) ?? false
    }
}

/// A value set by a transaction's body and read by its `landed` check.
final class Remembered<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    func set(_ v: T) { value.withLock { $0 = v } }
    var get: T? { value.withLock { $0 } }
}
