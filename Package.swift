// swift-tools-version: 6.1
// tracker: compare attention mechanisms on small language models, end to end, on CPUs.
// Modules depend one way: C shims -> Basics -> {Corpus, BPE, Shards, Store} -> Ingest -> TrackerCLI.
// The engine (Kernels, Attention, Model, Training), Scheduler and Report slot in beside Ingest.
import PackageDescription

let package = Package(
    name: "tracker",
    products: [
        .executable(name: "tracker", targets: ["TrackerCLI"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // MARK: - C libraries (Debian -dev packages), one system-library target each
        .systemLibrary(
            name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // MARK: - Foundations shared by every stage
        .target(name: "Basics"),

        // MARK: - Ingest: archives -> documents -> BPE -> shards
        .target(name: "Corpus", dependencies: ["CArchive", "Basics"]),
        .target(name: "BPE", dependencies: ["Basics"]),
        .target(name: "Shards", dependencies: ["Basics"]),

        // MARK: - Bookkeeping
        .target(
            name: "Store",
            dependencies: ["Basics", .product(name: "GRDB", package: "GRDB.swift")]),

        // MARK: - Pipelines that join the stages
        .target(name: "Ingest", dependencies: ["Corpus", "BPE", "Shards", "Store", "Basics"]),

        // MARK: - The thin executable
        .executableTarget(
            name: "TrackerCLI",
            dependencies: [
                "Ingest", "Store", "Corpus", "BPE", "Shards", "Basics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: - Tests (one per module)
        .testTarget(name: "BasicsTests", dependencies: ["Basics"]),
        .testTarget(name: "CorpusTests", dependencies: ["Corpus", "CArchive", "Basics"]),
        .testTarget(
            name: "BPETests",
            dependencies: [
                "BPE", "Basics", .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "ShardsTests", dependencies: ["Shards", "Basics"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Basics"]),
        .testTarget(name: "IngestTests", dependencies: ["Ingest", "Corpus", "CArchive", "BPE", "Shards", "Store", "Basics"]),
        .testTarget(name: "TrackerCLITests", dependencies: ["TrackerCLI", "Store"]),
    ]
)
