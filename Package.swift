// swift-tools-version: 6.1
// tracker: compare attention mechanisms on small language models, end to end, on CPUs.
// Modules depend one way: C shims -> Basics -> {Corpus, BPE, Shards, Store} -> Ingest -> TrackerCLI.
// The engine (Kernels, Attention, Model, Training), Scheduler and Report slot in beside Ingest;
// Session (a training run as a library) joins the engine with Store and Scheduler.
import PackageDescription

#if canImport(Glibc)
    import Glibc
#endif

// The engine's hot loops (softmax exp, GELU, RoPE, norms, AdamW) are written over SIMD8<Float>.
// Built for baseline x86-64 they compile to pairs of SSE instructions; built for the CPU they
// will run on, to single AVX/AVX-512 instructions, which takes about a third off their time
// (about 2-3% of a training step, the rest being OpenBLAS). llm.c's Makefile does the same with
// -march=native. Swift does not fuse a*b+c into FMA on its own, so the numbers do not change.
// TRACKER_PORTABLE=1 builds for baseline x86-64 instead (a binary to copy to other machines).
let engineSettings: [SwiftSetting] = {
    #if canImport(Glibc)
        if let portable = getenv("TRACKER_PORTABLE"), String(cString: portable) == "1" { return [] }
    #endif
    return [.unsafeFlags(["-target-cpu", "native"])]
}()

let package = Package(
    name: "tracker",
    products: [
        .executable(name: "tracker", targets: ["TrackerCLI"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // The PostgreSQL store (`--store postgres://...`): the client, no libpq.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // MARK: - C libraries (Debian -dev packages), one system-library target each
        .systemLibrary(
            name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),

        // SHA-256 on the CPU's SHA extensions (checked at run time), under Basics' SHA256.
        .target(name: "CSHA256"),
        // Flush-to-zero for the calling thread (MXCSR FTZ/DAZ, FPCR FZ), under Basics' FloatEnvironment.
        .target(name: "CFloatEnv"),

        // MARK: - Foundations shared by every stage
        .target(name: "Basics", dependencies: ["CSHA256", "CFloatEnv"]),

        // MARK: - Ingest: archives -> documents -> BPE -> shards
        .target(name: "Corpus", dependencies: ["CArchive", "Basics"]),
        .target(name: "BPE", dependencies: ["Basics"]),
        .target(name: "Shards", dependencies: ["Basics"]),

        // MARK: - Engine: kernels -> attention variants -> model -> training
        // OpenBLAS is loaded at run time (Kernels/BLAS.swift), so it is not a link dependency.
        .target(name: "Kernels", dependencies: ["Basics"], swiftSettings: engineSettings),
        .target(name: "Attention", dependencies: ["Kernels", "Basics"], swiftSettings: engineSettings),
        .target(name: "Model", dependencies: ["Kernels", "Attention", "Basics"], swiftSettings: engineSettings),
        .target(
            name: "Training", dependencies: ["Model", "Kernels", "Shards", "Basics"], swiftSettings: engineSettings),

        // MARK: - Bookkeeping
        .target(
            name: "Store",
            dependencies: [
                "Basics", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]),

        .target(name: "Scheduler", dependencies: ["Store", "Basics"]),
        .target(name: "Report", dependencies: ["Store", "Basics"]),
        // Slurm's commands (sbatch, squeue, sacct, scontrol, scancel): runner, parsers, scripts.
        .target(name: "SlurmKit", dependencies: ["Basics"]),

        // MARK: - Pipelines that join the stages
        .target(name: "Ingest", dependencies: ["Corpus", "BPE", "Shards", "Store", "Basics"]),
        // A training run as a library: run config (TOML via TOMLKit, the one TOML reader), data,
        // model, loop, sinks; experiment files resolved and enqueued.
        .target(
            name: "Session",
            dependencies: [
                "Training", "Model", "Attention", "Kernels", "Shards", "BPE", "Store", "Scheduler", "Basics",
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]),

        // The Slurm executor: the head (submit, poll, ingest the spool files, settle), and the task
        // side (`tracker worker --slurm`), which trains without opening the database.
        .target(
            name: "SlurmExecutor",
            dependencies: ["SlurmKit", "Session", "Scheduler", "Training", "Store", "Basics"]),

        // `tracker serve`: a read-only web dashboard over the store (Hummingbird), pages from Report.
        .target(
            name: "Dashboard",
            dependencies: [
                "Report", "Store", "Basics", .product(name: "Hummingbird", package: "hummingbird"),
            ]),

        // MARK: - The thin executable
        .executableTarget(
            name: "TrackerCLI",
            dependencies: [
                "Ingest", "Store", "Corpus", "BPE", "Shards", "Basics", "Training", "Model", "Attention", "Kernels",
                "Scheduler", "Report", "Session", "Dashboard",
                "SlurmExecutor", "SlurmKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: - Test helpers (gradient checks, golden files; the `.slow` tag and `.requires` traits)
        .target(name: "TestSupport", dependencies: ["Kernels", "Basics"], path: "Tests/TestSupport"),

        // MARK: - Tests (one per module)
        .testTarget(name: "BasicsTests", dependencies: ["Basics"]),
        .testTarget(name: "CorpusTests", dependencies: ["Corpus", "CArchive", "Basics", "TestSupport"]),
        .testTarget(
            name: "BPETests",
            dependencies: [
                "BPE", "Basics", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "ShardsTests", dependencies: ["Shards", "Basics", "TestSupport"]),
        .testTarget(
            name: "StoreTests",
            dependencies: ["Store", "Basics", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "IngestTests", dependencies: ["Ingest", "Corpus", "CArchive", "BPE", "Shards", "Store", "Basics"]),
        .testTarget(
            name: "KernelsTests", dependencies: ["Kernels", "TestSupport", "Basics"], resources: [.copy("Golden")]),
        .testTarget(
            name: "AttentionTests",
            dependencies: [
                "Attention", "Kernels", "TestSupport", "Basics",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Golden")]),
        .testTarget(
            name: "ModelTests", dependencies: ["Model", "Attention", "Kernels", "TestSupport", "Basics"],
            resources: [.copy("Golden")]),
        .testTarget(
            name: "TrainingTests", dependencies: ["Training", "Model", "Kernels", "Shards", "TestSupport", "Basics"],
            exclude: ["golden_adamw.py"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler", "Store", "Basics", "TestSupport"]),
        .testTarget(
            name: "ReportTests",
            dependencies: ["Report", "Store", "Basics", "TestSupport", "Session"]),
        .testTarget(
            name: "SessionTests",
            dependencies: [
                "Session", "Scheduler", "Store", "Model", "Training", "Attention", "Basics", "TestSupport", "Shards",
                "BPE",
            ]),
        .testTarget(name: "SlurmKitTests", dependencies: ["SlurmKit", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "SlurmExecutorTests",
            dependencies: ["SlurmExecutor", "SlurmKit", "Store", "Scheduler", "Basics", "TestSupport"]),
        .testTarget(
            name: "DashboardTests",
            dependencies: ["Dashboard", "Report", "Store", "Session", "Scheduler", "Basics", "TestSupport"]),
        .testTarget(
            name: "TrackerCLITests", dependencies: ["TrackerCLI", "Store", "Shards", "Basics", "Model", "TestSupport"]),
    ]
)
