// swift-tools-version:6.0
import PackageDescription

// Release binaries are linked as position-dependent executables: a static Swift binary built as PIE
// carries ~1 MB of relocations that the loader applies at every start, dirtying and keeping resident
// ~3 MiB more than the same binary without (measured idle RSS 30.7 → 27.6 MiB). Go links its
// binaries the same way by default on linux/amd64. The cost is that the operator's own code is not
// placed at a random address (ASLR still applies to the stack, heap and shared libraries).
//
// The release link also places the functions a running operator executes first in .text, in the order
// it runs them (scripts/operator-symbol-order.txt, made by scripts/symbol-order.sh from a callgrind
// run): the kernel maps 64 KiB around every code page a process touches, so code spread over the
// whole section keeps most of it resident (measured idle RSS 27.5 → 24.7 MiB). lld orders by symbol
// (gold ignores Swift's function sections' names here); the shipped targets are compiled with one
// section per function so that each can move on its own. A stale list only costs memory.
//
// The toolchain's static-stdlib link exports every symbol of the executable (-export-dynamic, for
// dladdr-based symbolication, which the operator never does): 160,000 dynamic symbols whose hash
// and string tables the loader reads while it binds the shared libraries (measured idle RSS
// 25.0 → 23.7 MiB without them). The backtracer reads the ELF symbol table, which stays.
//
// The same link takes libstdc++ (which the Swift runtime is written against) from its archive: the
// toolchain passes a plain `-lstdc++`, and scripts/static-libstdc++/ holds a linker script by that
// name that points at libstdc++.a. Only the parts the runtime uses are linked, instead of a 2 MB
// shared library the loader maps and binds at every start (measured idle RSS −1.3 MiB).
let packageDirectory = String(#filePath[..<(#filePath.lastIndex(of: "/") ?? #filePath.endIndex)])
let releaseOnLinux = BuildSettingCondition.when(platforms: [.linux], configuration: .release)
let shippedBinaryLinkerSettings: [LinkerSetting] = [.unsafeFlags([
    "-Xlinker", "-no-pie", "-use-ld=lld", "-Xlinker", "--no-export-dynamic",
    "-L\(packageDirectory)/scripts/static-libstdc++",
    "-Xlinker", "--symbol-ordering-file=\(packageDirectory)/scripts/operator-symbol-order.txt", "-Xlinker", "--no-warn-symbol-ordering",
], releaseOnLinux)]
// The shipped targets are also compiled with cross-module optimization: the models live in
// PynomalyOperator and the JSON encoder, decoder and containers in KubeCore, so without it every
// encode and decode of a model ran KubeCore's generic code unspecialized (metadata look-ups and
// witness calls per field). Measured: 10 % less CPU over a 1,000-CR converge, binary +0.3 MB.
let shippedSwiftSettings: [SwiftSetting] = [.unsafeFlags(["-Xfrontend", "-function-sections", "-cross-module-optimization"], releaseOnLinux)]

let package = Package(
    name: "pynomaly-operator",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pynomaly-operator", targets: ["pynomaly-operator"]),
        .executable(name: "pynomaly-sandbox", targets: ["pynomaly-sandbox"]),
        .executable(name: "kubectl-pynomaly", targets: ["kubectl-pynomaly"]),
        .executable(name: "pynomaly-bench", targets: ["pynomaly-bench"]),
        // For the fuzz package in Fuzz/ (built apart, with -sanitize=fuzzer).
        .library(name: "KubeCore", targets: ["KubeCore"]),
        .library(name: "KubeYAML", targets: ["KubeYAML"]),
        .library(name: "KubeClient", targets: ["KubeClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.10.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // System libraries. The shim headers wrap libcurl's variadic functions, which Swift cannot call.
        // libcurl is the project's own build (scripts/build-libcurl.sh, run by `make deps`): HTTP and
        // HTTPS only, with OpenSSL and nghttp2 linked in, in .build-deps/curl.
        .systemLibrary(name: "CCurl"),
        .systemLibrary(
            name: "CYaml", pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // Pure: object model, request values, client protocols, errors. Foundation only.
        .target(name: "KubeCore", swiftSettings: shippedSwiftSettings),
        // YAML <-> JSONValue through libyaml; shared by the client (kubeconfig) and the test server (apply-patch+yaml).
        .target(name: "KubeYAML", dependencies: ["KubeCore", "CYaml"], swiftSettings: shippedSwiftSettings),
        // The only network I/O of the operator: libcurl transport, kubeconfig, auth, watches, rate limit.
        .target(name: "KubeClient", dependencies: ["KubeCore", "KubeYAML", "CCurl"], swiftSettings: shippedSwiftSettings,
                linkerSettings: [.unsafeFlags(["-L\(packageDirectory)/.build-deps/curl/lib"])]),
        // Loopback HTTPS API server that behaves like kube-apiserver, for tests and the sandbox.
        .target(
            name: "KubeTestServer",
            dependencies: [
                "KubeCore", "KubeYAML",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Resources")]),

        // Generic controller machinery: watcher, cache, work queue, controller, leader election, events.
        .target(
            name: "KubeRuntime",
            dependencies: [
                "KubeCore", "CZlib",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: shippedSwiftSettings),
        // The product: API types, pure desired-state builders, reconcilers, preflight checks. Never imports KubeClient.
        .target(
            name: "PynomalyOperator",
            dependencies: ["KubeCore", "KubeRuntime", .product(name: "Logging", package: "swift-log")],
            // The Job scripts live as files (tested for real against PostgreSQL) and are compiled into
            // the binary, so the builders put exactly them into the pod spec and no bundle is needed.
            resources: [
                .embedInCode("Scripts/backup.sh"),
                .embedInCode("Scripts/maintenance.sh"),
                .embedInCode("Scripts/restore.sh"),
            ],
            swiftSettings: shippedSwiftSettings),

        .executableTarget(
            name: "pynomaly-operator",
            dependencies: [
                "KubeCore", "KubeClient", "KubeRuntime", "PynomalyOperator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: shippedSwiftSettings,
            linkerSettings: shippedBinaryLinkerSettings),
        // The kubectl plugin (`kubectl pynomaly …`): request annotations, status, report, history and diff views
        // (KubeYAML: `diff -f` reads manifests and prints objects as YAML, as kubectl diff does).
        .executableTarget(
            name: "kubectl-pynomaly",
            dependencies: [
                "KubeCore", "KubeClient", "KubeYAML", "PynomalyOperator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: shippedSwiftSettings,
            linkerSettings: shippedBinaryLinkerSettings),
        .executableTarget(
            name: "pynomaly-sandbox",
            dependencies: [
                "KubeCore", "KubeClient", "KubeYAML", "KubeTestServer", "PynomalyOperator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // `make bench`: the test server and the operator in their own processes, measured from outside.
        .executableTarget(
            name: "pynomaly-bench",
            dependencies: [
                "KubeCore", "KubeClient", "KubeYAML", "PynomalyOperator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Shared by the test targets (never shipped, no product): waitUntil, the in-process operator
        // rig and the sample set-ups the end-to-end suites start from.
        .target(
            name: "OperatorTestSupport",
            dependencies: [
                "KubeCore", "KubeYAML", "KubeClient", "KubeRuntime", "KubeTestServer", "PynomalyOperator",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/OperatorTestSupport"),

        .testTarget(name: "KubeCoreTests", dependencies: ["KubeCore", "KubeYAML"]),
        .testTarget(name: "KubeTestServerTests", dependencies: ["KubeTestServer", "KubeCore", "KubeYAML"]),
        .testTarget(name: "KubeClientTests", dependencies: ["KubeClient", "KubeTestServer", "KubeCore"]),
        .testTarget(name: "KubectlTests", dependencies: ["KubeTestServer", "KubeClient", "KubeCore", "KubeYAML"]),
        .testTarget(name: "KubeRuntimeTests", dependencies: ["KubeRuntime", "KubeTestServer", "KubeClient", "KubeCore", "OperatorTestSupport"]),
        // X509 and Crypto make the certificates that CertificateInspection's tests read.
        .testTarget(name: "PynomalyOperatorTests", dependencies: [
            "PynomalyOperator", "KubeRuntime", "KubeTestServer", "KubeClient", "KubeCore", "KubeYAML", "OperatorTestSupport",
            .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto"),
        ], exclude: ["Golden"]),  // read from the source tree by path (`Golden.directory`), not bundled
    ],
    swiftLanguageModes: [.v6]
)
