import ShipgateExpressions

/// A GitHub Actions workflow file as the workflow loader validated it: what `validate` checks
/// and reports. Running workflows natively is the next step of this front end; today this
/// value says what a workflow declares, with every expression parsed.
public struct Workflow: Sendable {
    public var name: String?
    public var file: String
    /// Events from `on:` (names only; filters are kept by the loader for later).
    public var events: [String]
    public var jobs: [Job]

    public init(name: String?, file: String, events: [String], jobs: [Job]) {
        self.name = name
        self.file = file
        self.events = events
        self.jobs = jobs
    }

    public struct Job: Sendable {
        public var id: String
        public var name: String?
        public var needs: [String]
        public var condition: IfCondition
        /// `runs-on` as written (labels, or an expression's text); nil for a reusable workflow call.
        public var runsOn: [String]?
        /// `uses:` of a job that calls a reusable workflow.
        public var uses: String?
        /// The matrix's variants when it could be expanded before the run; nil without a matrix
        /// or when it comes from an expression (`${{ fromJSON(…) }}`).
        public var variants: [Matrix.Combination]?
        public var steps: [Step]

        public init(
            id: String, name: String?, needs: [String], condition: IfCondition, runsOn: [String]?, uses: String?, variants: [Matrix.Combination]?,
            steps: [Step]
        ) {
            self.id = id
            self.name = name
            self.needs = needs
            self.condition = condition
            self.runsOn = runsOn
            self.uses = uses
            self.variants = variants
            self.steps = steps
        }
    }

    public struct Step: Sendable {
        public enum Action: Sendable, Equatable {
            case run(String)
            case uses(String)
        }

        public var id: String?
        public var name: String?
        public var condition: IfCondition
        public var action: Action

        public init(id: String?, name: String?, condition: IfCondition, action: Action) {
            self.id = id
            self.name = name
            self.condition = condition
            self.action = action
        }
    }
}
