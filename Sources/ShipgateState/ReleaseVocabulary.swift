import Foundation

/// Where a release stands (`DeploymentRow.status`, stored as its raw value).
public enum ReleaseStatus: String, Sendable, CaseIterable, Codable {
    case deploying
    case verifying
    /// Verified and standing (or standing until something newer replaced it).
    case success
    /// Steps or verify failed and nothing was rolled back.
    case failed
    /// Replaced by a rollback (automatic or by hand).
    case rolledBack = "rolled-back"
    /// The rollback of this release failed: what runs is unknown, a human must act.
    case rollbackFailed = "rollback-failed"
    /// A manual rollback release while its steps run.
    case rollingBack = "rolling-back"
    /// Shipgate stopped (or died) before the release ended.
    case interrupted
    /// It went out, but its outcome could not be written to the audit log: live, never a
    /// rollback or `promote-from` target, and a person must check it.
    case unaudited
}

extension DeploymentRow {
    /// The typed status; nil for a value this version does not know (a newer writer).
    public var releaseStatus: ReleaseStatus? { ReleaseStatus(rawValue: status) }
}

/// The state-store locks that serialize deploys to an environment: one per allowed concurrent
/// deploy (`concurrency: N` gives N slots). Deploys and rollbacks, from the CLI or the console,
/// take a slot by these names and nothing else.
public enum EnvironmentLock {
    public static func names(environment: String, slots: Int?) -> [String] {
        guard let slots, slots > 0 else { return [] }
        return (1...slots).map { "\(prefix(environment))\($0)" }
    }

    /// Every lock of `environment` starts with this.
    public static func prefix(_ environment: String) -> String { "environment:\(environment)#" }
}
