import Foundation
import ShipgateState

/// What an environment is running, decided from its releases: the one answer to "which release
/// is current?" for `history`, `status`, the console pages and its API.
///
/// Contract (`of`, rows newest first, as `deployments(environment:)` returns them):
/// - releases still in progress (`deploying`, `verifying`, `rolling-back`) and those that did
///   not stay (`failed`, `rolled-back`, `interrupted`) are passed over;
/// - the first `success` is live, and nothing needs a person;
/// - a `rollback-failed` deploy is live (it went out and could not be taken back) and the
///   environment needs manual action; a failed manual rollback (`rollbackOf` set) leaves the
///   release it was rolling back from live (the next `success` after it, else itself), and
///   needs manual action too; a later `success` clears it;
/// - an `unaudited` release (it went out, its outcome is not in the audit log) is live and
///   needs manual action.
public struct LiveRelease: Sendable, Equatable {
    /// The release the environment runs; nil when nothing has gone out there.
    public var release: DeploymentRow?
    /// The `rollback-failed` release when a rollback failed and no good deploy came after it.
    public var failedRollback: DeploymentRow?
    /// The live release when its outcome could not be written to the audit log.
    public var unaudited: DeploymentRow?

    public init(release: DeploymentRow?, failedRollback: DeploymentRow?, unaudited: DeploymentRow? = nil) {
        self.release = release
        self.failedRollback = failedRollback
        self.unaudited = unaudited
    }

    public var needsManualAction: Bool { failedRollback != nil || unaudited != nil }

    public static func of(_ rows: [DeploymentRow]) -> LiveRelease {
        for (i, row) in rows.enumerated() {
            switch row.releaseStatus {
            case .success: return LiveRelease(release: row, failedRollback: nil)
            case .unaudited: return LiveRelease(release: row, failedRollback: nil, unaudited: row)
            case .rollbackFailed:
                guard row.rollbackOf != nil else { return LiveRelease(release: row, failedRollback: row) }
                // A failed manual rollback leaves live what was live before it (which may itself
                // be a failed or unaudited release).
                let from = LiveRelease.of(Array(rows[(i + 1)...])).release ?? row
                return LiveRelease(release: from, failedRollback: row)
            default: continue
            }
        }
        return LiveRelease(release: nil, failedRollback: nil)
    }

    /// Reads an environment's releases (enough to reach the live one) and decides.
    public static func of(environment: String, in store: any StateStore) async throws -> LiveRelease {
        await of(try store.deployments(environment: environment, limit: 1000))
    }

    /// Whether `row` is the live release.
    public func isLive(_ row: DeploymentRow) -> Bool { release?.release == row.release }

    /// The marker `history` prints after the live release.
    public var marker: String {
        if failedRollback != nil { return "← live, rollback FAILED: needs manual action" }
        return unaudited != nil ? "← live, NOT in the audit log: needs manual action" : "← live"
    }

    /// One line for `status` and the console: what failed and what to do; nil when nothing does.
    public func manualAction(environment: String) -> String? {
        if let unaudited, failedRollback == nil {
            return
                "\(environment) needs manual action: release \(unaudited.release) is live but its outcome is not in the audit log; check \(environment), run `shipgate audit verify`, then deploy a good release again"
        }
        guard let failed = failedRollback else { return nil }
        let live = release.map { "release \($0.release) is live" } ?? "its state is unknown"
        let what = failed.rollbackOf.map { "the manual rollback to \($0) (\(failed.release)) failed" } ?? "the rollback of \(failed.release) failed"
        return
            "\(environment) needs manual action: \(what) and \(live); restore \(environment) by hand or deploy a good release again, see `shipgate history --env \(environment)`"
    }
}
