import Foundation
import KubeCore
import KubeRuntime
import PynomalyOperator
import Testing

@Suite("ControllerLogic: PodProblems")
struct PodProblemsLogicTests {
    @Test func imagePullBackOffOnTwoOfThreePods() throws {
        let pods = [try LogicFixture.pod("a", waiting: ["ImagePullBackOff"]), try LogicFixture.pod("b", waiting: ["ImagePullBackOff"]),
                    try LogicFixture.runningPod("c")]
        #expect(PodProblems.summary(of: pods) == "2/3 pods ImagePullBackOff")
    }

    @Test func mixedReasonsPickTheMostCommon() throws {
        let pods = [try LogicFixture.pod("a", waiting: ["ErrImagePull"]), try LogicFixture.pod("b", waiting: ["CrashLoopBackOff"]),
                    try LogicFixture.pod("c", waiting: ["CrashLoopBackOff"]), try LogicFixture.pod("d", waiting: ["ImagePullBackOff"]),
                    try LogicFixture.runningPod("e")]
        #expect(PodProblems.summary(of: pods) == "2/5 pods CrashLoopBackOff")
    }

    @Test func aTieIsBrokenTheSameWayEveryTime() throws {
        let pods = [try LogicFixture.pod("a", waiting: ["ImagePullBackOff"]), try LogicFixture.pod("b", waiting: ["CrashLoopBackOff"])]
        let first = PodProblems.summary(of: pods)
        #expect(first == "1/2 pods CrashLoopBackOff")
        #expect(PodProblems.summary(of: pods.reversed()) == first)
    }

    @Test func aPodCountsOncePerReasonAcrossItsContainers() throws {
        let pods = [try LogicFixture.pod("a", waiting: ["ImagePullBackOff", "ImagePullBackOff"]), try LogicFixture.runningPod("b")]
        #expect(PodProblems.summary(of: pods) == "1/2 pods ImagePullBackOff")
    }

    @Test func initContainersCount() throws {
        let pods = [try LogicFixture.pod("a", waiting: [nil], initWaiting: "CreateContainerConfigError")]
        #expect(PodProblems.summary(of: pods) == "1/1 pods CreateContainerConfigError")
    }

    @Test func anUnschedulablePendingPod() throws {
        let pending = try LogicFixture.pod("a", waiting: [], conditions: [
            LogicFixture.condition("PodScheduled", "False", reason: "Unschedulable", message: "0/3 nodes are available")])
        #expect(PodProblems.summary(of: [pending, try LogicFixture.runningPod("b")]) == "1/2 pods Unschedulable")
    }

    @Test func aPendingScheduledPodIsNoProblem() throws {
        let scheduled = try LogicFixture.pod("a", waiting: ["ContainerCreating"], conditions: [
            LogicFixture.condition("PodScheduled", "True", reason: "Scheduled")])
        #expect(PodProblems.summary(of: [scheduled]) == nil)
    }

    @Test func healthyPodsAndNoPodsGiveNil() throws {
        #expect(PodProblems.summary(of: [try LogicFixture.runningPod("a"), try LogicFixture.runningPod("b")]) == nil)
        #expect(PodProblems.summary(of: []) == nil)
    }
}
