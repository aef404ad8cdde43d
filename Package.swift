// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "shipgate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "shipgate", targets: ["shipgate"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The release console (`shipgate serve`); swift-configuration support is left out.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // Pure values: the validated pipeline, diagnostics, durations. No I/O.
        .target(name: "ShipgateModel"),
        // GitHub's expression language: `${{ }}` parsed and evaluated with GitHub's coercions. Pure.
        .target(name: "ShipgateExpressions"),
        // The GitHub workflow front end (in progress): matrix expansion as GitHub does it.
        .target(name: "ShipgateWorkflow", dependencies: ["ShipgateExpressions"]),
        // YAML text -> validated model, every problem collected with file:line:col.
        .target(
            name: "ShipgateLoading",
            dependencies: [
                "ShipgateModel", "ShipgateExpressions", "ShipgateWorkflow", .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Job graph, matrix expansion, interpolation, the ExecutionPlan value.
        .target(
            name: "ShipgatePlanning",
            dependencies: ["ShipgateModel", "ShipgateExpressions", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // libgit2, found by pkg-config; only ShipgateGit imports it.
        .systemLibrary(name: "CLibgit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        // Git awareness: the run context (commit, branch, tags, version) read through libgit2.
        .target(name: "ShipgateGit", dependencies: ["CLibgit2", "ShipgateModel"]),
        // Content-addressed storage and input hashing: globs, stat cache, blobs, entries, remote.
        .target(
            name: "ShipgateCache",
            dependencies: ["ShipgateModel", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Every HTTP call shipgate makes (remote cache, verify probes, the console client), over
        // AsyncHTTPClient: one pooled client per process, streamed bodies, idle timeouts.
        .target(
            name: "ShipgateHTTP",
            dependencies: [
                "ShipgateCache", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // System calls Swift cannot reach (variadic or missing from Glibc): prctl, posix_spawn with
        // file actions, pidfd_open, epoll, eventfd, copy_file_range.
        .target(name: "CShipgatePosix"),
        // The only module that starts processes: posix_spawn, one supervisor (epoll) for every
        // child, process groups, timeouts and cancellation, the orphan reaper, network namespaces.
        .target(
            name: "ShipgateProcess",
            dependencies: [
                "ShipgateModel", "CShipgatePosix",
                // Only where the native supervisor does not run (not Linux).
                .product(name: "Subprocess", package: "swift-subprocess", condition: .when(platforms: [.macOS])),
            ]
        ),
        // Is this job up to date, and why: cache keys, entries, restore, the remote, `plan`'s advice, pruning.
        .target(
            name: "ShipgateJobCache",
            dependencies: ["ShipgateModel", "ShipgatePlanning", "ShipgateCache", "ShipgateProcess"]
        ),
        // Executes a plan: scheduling, attempts, logs, run records; asks the job cache before running.
        .target(
            name: "ShipgateEngine",
            dependencies: [
                "ShipgateModel", "ShipgatePlanning", "ShipgateCache", "ShipgateJobCache", "ShipgateProcess", "CShipgatePosix", "ShipgateExpressions",
            ]
        ),
        // Durable state in SQLite (GRDB): runs, jobs, gates, approvals, deployments, audit, locks.
        .target(
            name: "ShipgateState",
            dependencies: ["ShipgateModel", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The same state store on PostgreSQL (postgres-nio), for many runners sharing one database.
        .target(
            name: "ShipgatePostgres",
            dependencies: [
                "ShipgateModel", "ShipgateState", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Keys, signed approval statements and the gate's rules, as pure values and functions.
        .target(
            name: "ShipgateGate",
            dependencies: ["ShipgateModel", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Deploys: the engine's environment hooks over the state store, the gate and git (trusted policy).
        .target(
            name: "ShipgateRelease",
            dependencies: [
                "ShipgateModel", "ShipgateLoading", "ShipgatePlanning", "ShipgateEngine", "ShipgateCache", "ShipgateJobCache", "ShipgateGit",
                "ShipgateState", "ShipgateGate", "ShipgateProcess", "ShipgateHTTP",
            ]
        ),
        // The release console: pages, JSON API, sessions and metrics over the state store (Hummingbird).
        .target(
            name: "ShipgateConsole",
            dependencies: [
                "ShipgateModel", "ShipgateLoading", "ShipgateGit", "ShipgateState", "ShipgateGate", "ShipgateRelease", "ShipgateEngine",
                "ShipgateCache", "ShipgateJobCache", "ShipgateReport", "ShipgateProcess", "ShipgateHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The cache service `@actions/cache` talks to during a workflow run (Hummingbird on 127.0.0.1).
        .target(
            name: "ShipgateActionsCache",
            dependencies: [
                "ShipgateCache",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Turns engine events into terminal, JSON-lines and JUnit output.
        .target(
            name: "ShipgateReport",
            dependencies: ["ShipgateModel", "ShipgatePlanning", "ShipgateEngine"]
        ),
        .executableTarget(
            name: "shipgate",
            dependencies: [
                "ShipgateModel", "ShipgateExpressions", "ShipgateLoading", "ShipgatePlanning", "ShipgateEngine", "ShipgateReport", "ShipgateCache",
                "ShipgateJobCache",
                "ShipgateGit", "ShipgateState", "ShipgateGate", "ShipgateRelease", "ShipgatePostgres", "ShipgateConsole", "ShipgateProcess",
                "ShipgateActionsCache", "ShipgateHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Parser fuzzing (bench/fuzz.sh builds it with -sanitize=fuzzer); otherwise a replay tool.
        .executableTarget(name: "ShipgateFuzz", dependencies: ["ShipgateLoading", "ShipgateGate", "ShipgatePlanning"]),
        .testTarget(
            name: "ShipgateLoadingTests", dependencies: ["ShipgateLoading", "ShipgateModel", "ShipgateFuzz", "ShipgateWorkflow"], exclude: ["Fixtures"]
        ),
        .testTarget(name: "ShipgateProcessTests", dependencies: ["ShipgateProcess", "ShipgateModel"]),
        .testTarget(name: "ShipgateCacheTests", dependencies: ["ShipgateCache", "ShipgateModel"]),
        .testTarget(name: "ShipgateActionsCacheTests", dependencies: ["ShipgateActionsCache", "ShipgateCache"]),
        .testTarget(name: "ShipgateExpressionsTests", dependencies: ["ShipgateExpressions"]),
        .testTarget(name: "ShipgateWorkflowTests", dependencies: ["ShipgateWorkflow", "ShipgateExpressions"]),
        .testTarget(name: "ShipgateJobCacheTests", dependencies: ["ShipgateJobCache", "ShipgateCache", "ShipgateModel"]),
        .testTarget(name: "ShipgateGitTests", dependencies: ["ShipgateGit", "ShipgateCache", "ShipgateJobCache", "ShipgateEngine", "ShipgateProcess"]),
        .testTarget(name: "ShipgatePlanningTests", dependencies: ["ShipgatePlanning", "ShipgateLoading", "ShipgateModel", "ShipgateExpressions"]),
        .testTarget(
            name: "ShipgateEngineTests",
            dependencies: [
                "ShipgateEngine", "ShipgatePlanning", "ShipgateLoading", "ShipgateModel", "ShipgateReport", "ShipgateCache", "ShipgateJobCache",
                "ShipgateProcess", "ShipgateExpressions", "ShipgateHTTP", .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        .testTarget(name: "ShipgateGateTests", dependencies: ["ShipgateGate", "ShipgateModel", "ShipgateState", "ShipgateLoading", "ShipgatePostgres"]),
        .testTarget(
            name: "ShipgateConsoleTests",
            dependencies: [
                "ShipgateConsole", "ShipgateState", "ShipgateGate", "ShipgateModel", "ShipgateRelease", "ShipgatePostgres", "ShipgateProcess",
                .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The release rules in-process: trusted policy, rollback, secrets, against real SQLite and git repositories.
        .testTarget(
            name: "ShipgateReleaseTests",
            dependencies: [
                "ShipgateRelease", "ShipgateState", "ShipgateGate", "ShipgateModel", "ShipgateLoading", "ShipgateEngine", "ShipgateGit",
                "ShipgatePlanning", "ShipgateCache", "ShipgateJobCache", "ShipgateProcess",
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["shipgate", "ShipgatePostgres", .product(name: "Subprocess", package: "swift-subprocess")],
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
