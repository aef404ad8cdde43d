import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// The store's way to the database: postgres-nio's connection pool (`PostgresClient`), one
/// transaction per store method, and what to do when the connection is lost.
///
/// Contract:
/// - A lost connection (the server restarted, failed over, or ended the backend) is replaced by
///   the pool; a method that failed on it is run again once on a new connection, when running
///   it again cannot do it twice: it failed before `COMMIT` was sent, or it is idempotent, or
///   its `landed` check (run on the new connection) says the first try did not commit.
/// - While the server cannot be reached at all (a transaction cannot even begin), the method
///   waits for it with backoff: nothing was done, so nothing can be done twice.
/// - Every method is bounded by `operationTimeout` (waiting for a connection included); the
///   server ends any statement after `statementTimeout` and any transaction left idle after
///   the same time, so a stuck client never holds the audit lock.
/// - Nothing blocks a thread: every wait is an `await`.
final class PostgresSession: Sendable {
    struct Settings: Sendable {
        var statementTimeout: Duration = .seconds(15)
        /// Kept well under the lease (60 s): a holder whose renewal times out still has time to
        /// renew again before anyone may take what it holds.
        var operationTimeout: Duration = .seconds(20)
        var maximumConnections = 4

        /// `SHIPGATE_PG_TIMEOUT` (seconds) bounds each store method.
        static func from(_ environment: [String: String]) -> Settings {
            var s = Settings()
            if let text = environment["SHIPGATE_PG_TIMEOUT"], let seconds = Double(text), seconds > 0 {
                s.operationTimeout = .milliseconds(Int64(seconds * 1000))
                s.statementTimeout = .milliseconds(Int64(max(1, seconds * 1000 * 2 / 3)))
            }
            return s
        }
    }

    /// How a method may be run again after its connection was lost during `COMMIT` (when it is
    /// unknown whether the first try committed).
    enum Retry<T: Sendable>: Sendable {
        /// Reads, and writes that leave the same state when done twice (upserts).
        case idempotent
        /// Asks the database whether the first try committed; a value is that try's result.
        case landed(@Sendable (Transaction) async throws -> T?)
    }

    let client: PostgresClient
    let settings: Settings
    let location: String
    private let running: Task<Void, Never>
    static let logger = Logger(label: "shipgate.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    init(_ url: PostgresURL, settings: Settings) throws {
        self.settings = settings
        location = url.redacted
        var config: PostgresClient.Configuration
        if let socket = url.socketPath {
            config = .init(unixSocketPath: socket, username: url.user, password: url.password, database: url.database)
        } else {
            let tls: PostgresClient.Configuration.TLS
            switch url.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(.makeClientConfiguration())
            case .require: tls = .require(.makeClientConfiguration())
            }
            config = .init(host: url.host ?? "127.0.0.1", port: url.port, username: url.user, password: url.password, database: url.database, tls: tls)
        }
        config.options.connectTimeout = .seconds(10)
        config.options.maximumConnections = settings.maximumConnections
        config.options.keepAliveBehavior = .init(frequency: .seconds(15))
        let ms = String(settings.statementTimeout.components.seconds * 1000 + settings.statementTimeout.components.attoseconds / 1_000_000_000_000_000)
        config.options.additionalStartupParameters = [
            ("statement_timeout", ms), ("idle_in_transaction_session_timeout", ms), ("application_name", "shipgate"),
        ]
        let client = PostgresClient(configuration: config, backgroundLogger: Self.logger)
        self.client = client
        running = Task.detached { await client.run() }
    }

    /// Stops the pool; calls in flight fail.
    func close() { running.cancel() }

    deinit { running.cancel() }

    // MARK: - Transactions

    /// Runs `body` in one transaction, with the retry rule above.
    func transaction<T: Sendable>(
        _ what: String, retry: Retry<T>, _ body: @escaping @Sendable (Transaction) async throws -> T
    ) async throws -> T {
        let last = LastFailure()
        return try await deadline(what, last) {
            do {
                return try await self.attemptWaiting(body, last)
            } catch let failure as Attempt {
                guard failure.connectionLost else { throw PostgresStoreError.query("\(what): \(failure.reason)") }
                if failure.commitSent, case .landed(let check) = retry {
                    do { if let value = try await self.attemptWaiting(check, last) { return value } } catch let e as Attempt {
                        throw PostgresStoreError.query("\(what): the connection was lost as it committed, and whether it did is unknown: \(e.reason)")
                    }
                }
                do { return try await self.attemptWaiting(body, last) } catch let again as Attempt {
                    throw PostgresStoreError.query(
                        again.connectionLost ? "\(what): the connection to \(self.location) was lost twice: \(again.reason)" : again.reason)
                }
            }
        }
    }

    /// `attempt`, tried again with backoff (50 ms doubling to 2 s, within the deadline) while
    /// the database cannot be reached at all: a transaction that never began cannot have done
    /// anything, so waiting for the server to come back (a restart, a failover) is always safe.
    private func attemptWaiting<T: Sendable>(
        _ body: @Sendable (Transaction) async throws -> T, _ last: LastFailure, transactional: Bool = true
    ) async throws -> T {
        var delay = Duration.milliseconds(50)
        while true {
            do { return try await attempt(body, transactional: transactional) } catch let failure as Attempt where failure.connectionLost && !failure.began {
                last.set(failure.reason)
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// One statement outside a transaction (a read), run again once when its connection was lost.
    func query(_ what: String, _ sql: String, _ binds: [Bind] = []) async throws -> [String?] {
        try await read(what) { try await $0.exec(sql, binds) }
    }

    /// One read-only statement, outside a transaction (one round trip instead of three). A read
    /// can always run again, so every connection problem is waited out within the deadline.
    func read<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Transaction) async throws -> T) async throws -> T {
        let last = LastFailure()
        return try await deadline(what, last) {
            do { return try await self.attemptWaiting(body, last, transactional: false) } catch let failure as Attempt {
                throw PostgresStoreError.query("\(what): \(failure.reason)")
            }
        }
    }

    /// A failed try: what went wrong, whether the connection was lost, whether `BEGIN` went
    /// through and whether `COMMIT` was sent.
    struct Attempt: Error {
        var reason: String
        var connectionLost: Bool
        var began: Bool
        var commitSent: Bool
    }

    private func attempt<T: Sendable>(_ body: @Sendable (Transaction) async throws -> T, transactional: Bool = true) async throws -> T {
        let phase = Phase()
        do {
            return try await client.withConnection { connection in
                let tx = Transaction(connection: connection)
                // A read (`transactional` false) never counts as begun: it can always run again.
                guard transactional else { return try await body(tx) }
                try await tx.exec("BEGIN")
                phase.began.set()
                do {
                    let value = try await body(tx)
                    phase.commitSent.set()
                    try await tx.exec("COMMIT")
                    return value
                } catch {
                    if !phase.commitSent.value, !Self.isConnectionLoss(error) { _ = try? await tx.exec("ROLLBACK") }
                    throw error
                }
            }
        } catch let error as PostgresStoreError {
            throw error  // the store's own refusal ("already running"): not a try that failed
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // Not even BEGIN went through: the server could not be reached, unless it answered
            // with an error of its own (a wrong password or database is not waited out).
            let unreachable = !phase.began.value && !((error as? PSQLError)?.code == .server)
            throw Attempt(
                reason: Self.describe(error), connectionLost: Self.isConnectionLoss(error) || unreachable, began: phase.began.value,
                commitSent: phase.commitSent.value)
        }
    }

    /// `body`, or a timeout error after `operationTimeout` saying the last reason a try failed.
    /// The caller gets the error at the deadline even when a query in flight does not react to
    /// cancellation (a network partition: TCP may take minutes to give up); the body is
    /// cancelled and left to end on its own.
    private func deadline<T: Sendable>(_ what: String, _ last: LastFailure, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let limit = settings.operationTimeout
        let location = self.location
        let work = Task { try await body() }
        let outcome = Outcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                outcome.attach(continuation)
                Task {
                    let result = await work.result
                    outcome.finish(result)
                }
                Task {
                    try? await Task.sleep(for: limit)
                    let why = last.get.map { " (last: \($0))" } ?? ""
                    if outcome.finish(.failure(PostgresStoreError.query("\(what): \(location) did not answer within \(limit.components.seconds)s\(why)"))) {
                        work.cancel()
                    }
                }
            }
        } onCancel: {
            work.cancel()
        }
    }

    // MARK: - Errors

    /// A connection-level failure (the server went away, restarted, or ended this backend), as
    /// opposed to the statement failing: the cases another connection may not have.
    static func isConnectionLoss(_ error: any Error) -> Bool {
        if let e = error as? PSQLError {
            switch e.code {
            case .serverClosedConnection, .uncleanShutdown, .connectionError, .clientClosedConnection, .poolClosed: return true
            case .server:
                // 57P01 admin shutdown / pg_terminate_backend, 57P02 crash shutdown, 57P03 cannot connect now, 08xxx connection exceptions.
                let state = e.serverInfo?[.sqlState] ?? ""
                return state.hasPrefix("57P") || state.hasPrefix("08")
            default: return false
            }
        }
        return error is ChannelError || error is IOError
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] { return message }
            if let underlying = e.underlying { return "\(e.code): \(underlying)" }
            return "\(e.code)"
        }
        return "\(error)"
    }
}

/// Why the last try of a method failed, for its timeout message.
final class LastFailure: Sendable {
    private let reason = Mutex<String?>(nil)
    func set(_ r: String) { reason.withLock { $0 = r } }
    var get: String? { reason.withLock { $0 } }
}

/// Resumes a continuation once, with whichever result comes first.
final class Outcome<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?
    private var early: Result<T, any Error>?
    private var done = false

    func attach(_ c: CheckedContinuation<T, any Error>) {
        lock.lock()
        if let early {
            lock.unlock()
            c.resume(with: early)
            return
        }
        continuation = c
        lock.unlock()
    }

    /// True when this result was the one delivered.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        lock.lock()
        guard !done else {
            lock.unlock()
            return false
        }
        done = true
        if let c = continuation {
            continuation = nil
            lock.unlock()
            c.resume(with: result)
        } else {
            early = result
            lock.unlock()
        }
        return true
    }
}

/// How far a try got.
private final class Phase: Sendable {
    let began = Flag()
    let commitSent = Flag()
}

private final class Flag: Sendable {
    private let state = Mutex(false)
    var value: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}

/// A statement's parameters.
enum Bind: Sendable {
    case text(String?)
    case int(Int64)
}

/// One transaction's connection, with the few statement shapes the store uses.
struct Transaction: @unchecked Sendable {
    let connection: PostgresConnection

    /// Runs one statement; returns its rows' first column as text.
    @discardableResult
    func exec(_ sql: String, _ binds: [Bind] = []) async throws -> [String?] {
        var b = PostgresBindings()
        for bind in binds {
            switch bind {
            case .text(let s): b.append(s)
            case .int(let n): b.append(n)
            }
        }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: b), logger: PostgresSession.logger)
        var out: [String?] = []
        for try await row in rows { out.append(try row.decode(String?.self)) }
        return out
    }

    /// Rows of `select` decoded as `T` (through `row_to_json`).
    func rows<T: Decodable>(_ type: T.Type, _ select: String, _ binds: [Bind] = []) async throws -> [T] {
        let decoder = JSONDecoder()
        return try await exec("SELECT row_to_json(r)::text FROM (\(select)) r", binds).compactMap { text in
            guard let text else { return nil }
            return try decoder.decode(T.self, from: Data(text.utf8))
        }
    }

    /// Inserts `record` into `table` (columns `columns`); on a conflict on `key`, updates every
    /// column (`update`) or does nothing. Returns whether a row was written.
    @discardableResult
    func put<T: Encodable>(_ record: T, into table: String, columns: [String], key: [String]?, update: Bool) async throws -> Bool {
        let json = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
        var sql = "INSERT INTO \(table) (\(list)) SELECT \(list) FROM json_populate_record(NULL::\(table), $1::json)"
        if let key {
            let keys = key.map { "\"\($0)\"" }.joined(separator: ", ")
            let sets = columns.filter { !key.contains($0) }.map { "\"\($0)\" = EXCLUDED.\"\($0)\"" }.joined(separator: ", ")
            sql += update && !sets.isEmpty ? " ON CONFLICT (\(keys)) DO UPDATE SET \(sets)" : " ON CONFLICT (\(keys)) DO NOTHING"
        }
        sql += " RETURNING 'ok'"
        return try await !exec(sql, [.text(json)]).isEmpty
    }
}
