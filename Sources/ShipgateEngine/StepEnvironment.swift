import ShipgateModel

extension JobExecutor {
    /// What `$NAME` and `${NAME}` in `env` values expand from: the run's base environment
    /// (`RunOptions.baseEnvironment`), without the run's secrets, so no secret value enters a
    /// cache key or a file shipgate writes.
    var variableEnvironment: [String: String] {
        options.secrets.isEmpty ? options.baseEnvironment : options.baseEnvironment.filter { options.secrets[$0.key] == nil }
    }
}
