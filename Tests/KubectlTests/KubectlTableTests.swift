import Foundation
import KubeCore
import KubeTestServer
import XCTest

/// `kubectl get` of built-in kinds shows each kind's own columns, computed by the server
/// (`as=Table`): what an operator of the sandbox sees.
final class KubectlTableTests: XCTestCase {
    var server: KubeTestServer!
    var kubectl: Kubectl!

    override func setUp() async throws {
        var options = KubeTestServerOptions()
        options.simulation = .on
        options.simulation.podStartDelay = 0
        server = try await KubeTestServer.start(options)
        kubectl = try Kubectl.make(server: server)
    }

    override func tearDown() async throws {
        try await server?.stop()
    }

    static let manifests = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: web, image: "nginx:1.27"}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          selector: {app: web}
          ports: [{name: http, port: 80, targetPort: 8080}]
        ---
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata: {name: web}
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
          minReplicas: 2
          maxReplicas: 5
          metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}}]
        ---
        apiVersion: policy/v1
        kind: PodDisruptionBudget
        metadata: {name: web}
        spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
        ---
        apiVersion: batch/v1
        kind: CronJob
        metadata: {name: backup}
        spec:
          schedule: "0 2 * * *"
          jobTemplate:
            spec:
              template:
                spec: {restartPolicy: Never, containers: [{name: backup, image: "busybox:1.36"}]}
        """

    func testGetShowsEachKindsColumns() async throws {
        try kubectl.ok(["apply", "-f", "-"], stdin: Self.manifests)
        let ready = await eventually(timeout: 20) {
            (try? kubectl.run(["get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}"]).stdout) == "2"
        }
        XCTAssertTrue(ready)

        let out = try kubectl.ok(["get", "svc,deploy,pods,hpa,pdb,cronjobs"])
        for header in ["TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "UP-TO-DATE", "AVAILABLE", "RESTARTS", "REFERENCE", "TARGETS",
                       "MINPODS", "MIN AVAILABLE", "ALLOWED DISRUPTIONS", "SCHEDULE", "LAST SCHEDULE"] {
            XCTAssertTrue(out.contains(header), "no \(header) column:\n\(out)")
        }
        XCTAssertNotNil(out.range(of: #"service/web\s+ClusterIP\s+10\.96\.\d+\.\d+\s+<none>\s+80/TCP"#, options: .regularExpression), out)
        XCTAssertNotNil(out.range(of: #"deployment\.apps/web\s+2/2\s+2\s+2\s"#, options: .regularExpression), out)
        XCTAssertNotNil(out.range(of: #"pod/web-\S+\s+1/1\s+Running\s+0\s"#, options: .regularExpression), out)
        XCTAssertNotNil(out.range(of: #"horizontalpodautoscaler\.autoscaling/web\s+Deployment/web\s+cpu: <unknown>/70%\s+2\s+5\s"#,
                                  options: .regularExpression), out)
        XCTAssertNotNil(out.range(of: #"poddisruptionbudget\.policy/web\s+1\s+N/A\s+0\s"#, options: .regularExpression), out)
        XCTAssertNotNil(out.range(of: #"cronjob\.batch/backup\s+0 2 \* \* \*\s+<none>\s+False\s+0\s+<none>\s"#, options: .regularExpression), out)

        // -o wide adds the priority-1 columns.
        let wide = try kubectl.ok(["get", "deploy", "-o", "wide"])
        XCTAssertNotNil(wide.range(of: #"CONTAINERS\s+IMAGES\s+SELECTOR"#, options: .regularExpression), wide)
        XCTAssertNotNil(wide.range(of: #"web\s+2/2\s+2\s+2\s+\S+\s+web\s+nginx:1\.27\s+app=web"#, options: .regularExpression), wide)
        XCTAssertFalse(try kubectl.ok(["get", "deploy"]).contains("CONTAINERS"))
    }
}
