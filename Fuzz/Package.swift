// swift-tools-version:6.0
// libFuzzer targets for the parsers that read outside data: watch-stream lines, API objects as JSON,
// kubeconfig/YAML. Built apart from the main package (they need -sanitize=fuzzer); `make fuzz` runs
// each for a bounded time. See docs/fuzzing.md.
import PackageDescription

let package = Package(
    name: "pynomaly-fuzz",
    dependencies: [.package(name: "pynomaly-operator", path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "KubeCore", package: "pynomaly-operator")]),
        .executableTarget(name: "FuzzWatchStream", dependencies: ["FuzzSupport", .product(name: "KubeCore", package: "pynomaly-operator")]),
        .executableTarget(name: "FuzzObjectJSON", dependencies: ["FuzzSupport", .product(name: "KubeCore", package: "pynomaly-operator")]),
        .executableTarget(name: "FuzzKubeconfig", dependencies: [
            .product(name: "KubeClient", package: "pynomaly-operator"),
            .product(name: "KubeYAML", package: "pynomaly-operator"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
