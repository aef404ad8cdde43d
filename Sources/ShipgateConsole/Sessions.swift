import Foundation

/// Logged-in browser sessions, in memory: a restart logs everyone out.
///
/// Contract: a session id is 32 random bytes, sent only in an HttpOnly, SameSite=Strict cookie;
/// each session has its own CSRF token that every form must echo; sessions expire after
/// `idle` without use and `absolute` after login.
public final class SessionStore: @unchecked Sendable {
    public struct Session: Sendable {
        public var user: String
        public var approver: String
        public var csrf: String
        var created: Date
        var lastUsed: Date
    }

    let idle: TimeInterval
    let absolute: TimeInterval
    private let lock = NSLock()
    private var sessions: [String: Session] = [:]

    public init(idle: TimeInterval = 8 * 3600, absolute: TimeInterval = 24 * 3600) {
        self.idle = idle
        self.absolute = absolute
    }

    /// Starts a session; returns its id (the cookie value).
    public func create(user: ConsoleUser, now: Date = Date()) -> (id: String, session: Session) {
        let id = Random.token(32)
        let s = Session(user: user.name, approver: user.approver, csrf: Random.token(24), created: now, lastUsed: now)
        lock.withLock {
            sessions = sessions.filter { now.timeIntervalSince($0.value.lastUsed) < idle }
            sessions[id] = s
        }
        return (id, s)
    }

    /// The live session with this id, touched; nil when unknown or expired.
    public func session(_ id: String, now: Date = Date()) -> Session? {
        lock.withLock {
            guard var s = sessions[id] else { return nil }
            if now.timeIntervalSince(s.lastUsed) > idle || now.timeIntervalSince(s.created) > absolute {
                sessions[id] = nil
                return nil
            }
            s.lastUsed = now
            sessions[id] = s
            return s
        }
    }

    public func end(_ id: String) { lock.withLock { sessions[id] = nil } }

    /// Ends every session of a user (after `user remove`, the next request notices).
    public func end(user: String) { lock.withLock { sessions = sessions.filter { $0.value.user != user } } }
}

/// Failed logins per user name and per client address: after `limit` failures within
/// `window`, further attempts are refused (HTTP 429) until the window passes.
public final class LoginThrottle: @unchecked Sendable {
    let limit: Int
    let window: TimeInterval
    private let lock = NSLock()
    private var failures: [String: [Date]] = [:]

    public init(limit: Int = 5, window: TimeInterval = 300) {
        self.limit = limit
        self.window = window
    }

    /// Seconds until `keys` may try again, or nil when they may now.
    public func retryAfter(_ keys: [String], now: Date = Date()) -> Int? {
        lock.withLock {
            var wait: TimeInterval = 0
            for k in keys {
                let recent = (failures[k] ?? []).filter { now.timeIntervalSince($0) < window }
                failures[k] = recent.isEmpty ? nil : recent
                if recent.count >= limit, let first = recent.first { wait = max(wait, window - now.timeIntervalSince(first)) }
            }
            return wait > 0 ? Int(wait.rounded(.up)) : nil
        }
    }

    public func failed(_ keys: [String], now: Date = Date()) {
        lock.withLock {
            for k in keys { failures[k, default: []].append(now) }
        }
    }

    public func succeeded(_ keys: [String]) { lock.withLock { for k in keys { failures[k] = nil } } }
}
