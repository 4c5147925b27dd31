// swift-tools-version:6.1
import PackageDescription

// Module layering (a module never imports one above it):
//   CCurl / CYAML / CKubeCrypto   C system libraries and small shims
//   KubeJSON                      JSON value, JSON and YAML reading/writing, JSONPath, the lock box
//   ChildProcesses                spawning children (posix_spawn) and running one to completion
//   CurlTransport                 HTTP over libcurl: one curl_multi loop on its own thread
//   KubeClient                    kubeconfig, auth, REST verbs, watch (over CurlTransport); KubeResource
//   KubeController                typed informers, cache, work queue, reconcile loop, finalizers,
//                                 status writes, events, leases (knows nothing of kubesnap)
//   KubesnapAPI / Restic          kubesnap's API types (CRD-backed) / the restic data mover
//                                 (restic CLI adapter, repository format, S3 listing)
//   Kubesnap                      the operator: one folder per kind, the data plane
//   KubesnapConsole               the web console: NIO HTTP, pages and script embedded, API calls as the user
//   KubesnapCLI (kubesnap)        operator | apiserver | dev | console; names the product and its version
//   KubeAPIMachinery              schemas, validation, defaulting, patches, tables, OpenAPI (server side)
//   KubeAPIServer                 built-in API server; stands beside the stack, shares only KubeJSON
//   KubeTestSupport               test harness: an API server, temporary directories, process trees
//   kubesnap-bench                benchmarks (a development tool on the test harness, not shipped)
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6)
]

let package = Package(
    name: "kubesnap",
    platforms: [.macOS(.v14)],
    // The one shipped product. `kubesnap-bench` is a development tool built on the test
    // harness (KubeTestSupport: an API server, temporary directories, process trees), so it is
    // not a product: `swift build` makes it for `make bench` and the bench tests, the image
    // (Dockerfile) has only `kubesnap`.
    products: [
        .executable(name: "kubesnap", targets: ["KubesnapCLI"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]),
        .target(
            name: "CKubeCrypto", path: "Sources/CKubeCrypto",
            linkerSettings: [.linkedLibrary("crypto")]),
        .target(
            name: "KubeJSON", dependencies: ["CYAML"], swiftSettings: swiftSettings),
        .target(name: "CurlTransport", dependencies: ["CCurl"], swiftSettings: swiftSettings),
        .target(
            name: "KubeClient",
            dependencies: [
                "CurlTransport", "KubeJSON", "ChildProcesses",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "KubeController",
            dependencies: [
                "KubeClient", "KubeJSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "KubesnapAPI", dependencies: ["KubeClient", "KubeJSON"], swiftSettings: swiftSettings),
        .target(name: "ChildProcesses", swiftSettings: swiftSettings),
        .target(
            name: "Restic",
            dependencies: [
                "CKubeCrypto", "ChildProcesses", "CurlTransport", "KubeJSON",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "Kubesnap",
            dependencies: [
                "KubesnapAPI", "Restic", "KubeController", "KubeClient", "KubeJSON",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "KubeAPIMachinery", dependencies: ["KubeJSON"], swiftSettings: swiftSettings),
        .target(
            name: "KubeAPIServer",
            dependencies: [
                "KubeJSON", "KubeAPIMachinery", "CKubeCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "KubesnapConsole",
            dependencies: [
                "KubeClient", "KubeJSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: ["Assets"],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "KubesnapCLI",
            dependencies: [
                "Kubesnap", "KubesnapAPI", "KubeAPIServer", "KubeClient", "KubeJSON", "KubesnapConsole",
                "ChildProcesses",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "kubesnap-bench",
            dependencies: [
                "Kubesnap", "KubeClient", "KubeJSON", "KubesnapAPI", "KubeTestSupport", "Restic",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/KubesnapBench", swiftSettings: swiftSettings),
        .target(
            name: "KubeTestSupport",
            dependencies: ["KubeAPIServer", "ChildProcesses"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubeJSONTests", dependencies: ["KubeJSON", "KubeTestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubeClientTests",
            dependencies: [
                "KubeClient", "CurlTransport", "KubeJSON", "KubeAPIServer", "KubeTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubeAPIMachineryTests", dependencies: ["KubeAPIMachinery", "KubeJSON"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubeAPIServerTests",
            dependencies: ["KubeAPIServer", "KubeJSON", "KubeTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubeControllerTests",
            dependencies: [
                "KubeController", "KubeClient", "KubeJSON", "KubeTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubesnapAPITests", dependencies: ["KubesnapAPI", "KubeClient", "KubeJSON", "KubeTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ChildProcessesTests", dependencies: ["ChildProcesses"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ResticTests", dependencies: ["Restic", "KubeTestSupport", "ChildProcesses", "KubeJSON"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubesnapTests",
            dependencies: [
                "Kubesnap", "KubesnapAPI", "KubeController", "KubeClient", "KubeJSON", "Restic", "KubeAPIServer",
                "KubeTestSupport", "ChildProcesses", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubesnapE2ETests",
            // KubesnapCLI is not imported: it is the `kubesnap` these tests run, built before them
            // (kubesnap-bench, which BenchTests run, is built by `swift build --build-tests`).
            dependencies: [
                "KubesnapCLI", "KubeJSON", "KubeClient", "KubeController", "KubeAPIServer", "KubesnapAPI", "KubeTestSupport",
                "KubesnapConsole",
            ],
            swiftSettings: swiftSettings),
    ]
)
