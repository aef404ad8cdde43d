/// `github:` on a job or in `defaults`: what `export github` puts in the exported job and
/// nowhere else (a local run ignores it). Values are kept as JSON text of what was written
/// (JSON is YAML's flow style), so they reach the workflow as written.
public struct GitHubExportSettings: Hashable, Sendable, Codable {
    /// `runs-on`: a label, a list of labels or a `{group, labels}` mapping.
    public var runsOn: String?
    /// `permissions`: `read-all`, `write-all` or a mapping of scopes.
    public var permissions: String?
    /// `steps-before`: GitHub steps run before the job's shipgate step (after checkout and
    /// the toolchains' setup actions), one JSON object each.
    public var stepsBefore: [String] = []

    public init(runsOn: String? = nil, permissions: String? = nil, stepsBefore: [String] = []) {
        self.runsOn = runsOn
        self.permissions = permissions
        self.stepsBefore = stepsBefore
    }

    /// A job's settings over the pipeline's defaults: its `runs-on` and `permissions` replace
    /// theirs; its `steps-before` come after theirs.
    public func over(_ defaults: GitHubExportSettings?) -> GitHubExportSettings {
        guard let defaults else { return self }
        return GitHubExportSettings(
            runsOn: runsOn ?? defaults.runsOn, permissions: permissions ?? defaults.permissions, stepsBefore: defaults.stepsBefore + stepsBefore)
    }
}
