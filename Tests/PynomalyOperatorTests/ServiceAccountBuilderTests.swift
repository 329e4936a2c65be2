import Foundation
import KubeCore
import Testing

@testable import PynomalyOperator

/// The app's ServiceAccount and how the pod template uses it.
@Suite struct ServiceAccountBuilderTests {
    @Test func serviceAccountGolden() throws {
        let account = try #require(ServiceAccountBuilder.build(try BuilderTests.context()))
        try Golden.check(account, "ServiceAccount.yaml")
    }

    @Test func byDefaultTheOperatorsAccountMountsNoToken() throws {
        let ctx = try BuilderTests.context()
        let account = try #require(ServiceAccountBuilder.build(ctx))
        #expect(account.metadata.name == ctx.name)
        #expect(account.automountServiceAccountToken == false)
        let pod = BuilderTests.template(ctx).spec
        #expect(pod?.serviceAccountName == ctx.name)
        #expect(pod?.automountServiceAccountToken == false)
    }

    @Test func askingForTheTokenMountsIt() throws {
        let ctx = try BuilderTests.context { $0.spec.automountServiceAccountToken = true }
        #expect(ServiceAccountBuilder.build(ctx)?.automountServiceAccountToken == true)
        #expect(BuilderTests.template(ctx).spec?.automountServiceAccountToken == true)
    }

    @Test func aNamedAccountIsUsedAsIsAndNotBuilt() throws {
        let ctx = try BuilderTests.context { $0.spec.serviceAccountName = "team-reader" }
        #expect(ServiceAccountBuilder.build(ctx) == nil)
        let pod = BuilderTests.template(ctx).spec
        #expect(pod?.serviceAccountName == "team-reader")
        // The account's own setting decides, unless the spec says.
        #expect(pod?.automountServiceAccountToken == nil)
        let asked = try BuilderTests.context { cr in
            cr.spec.serviceAccountName = "team-reader"
            cr.spec.automountServiceAccountToken = false
        }
        #expect(BuilderTests.template(asked).spec?.automountServiceAccountToken == false)
    }

    @Test func theAccountIsPartOfTheRevision() throws {
        let own = PodTemplateBuilder.templateHash(BuilderTests.template(try BuilderTests.context()))
        let named = PodTemplateBuilder.templateHash(BuilderTests.template(try BuilderTests.context { $0.spec.serviceAccountName = "team-reader" }))
        #expect(own != named)
    }
}
