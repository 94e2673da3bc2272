// Remote configuration: optimizerConfigFromJson / optimizerConfigToJson, and the defaults of
// the generated OptimizerConfig initializer.
import Foundation
import MeshTune
import XCTest

final class ConfigJsonTests: XCTestCase {
    func testDefaultArgumentsAreTheRustDefaults() {
        XCTAssertEqual(OptimizerConfig(), defaultOptimizerConfig())
        XCTAssertEqual(OptimizerConfig().targetP95LatencyMs, 100)
        XCTAssertEqual(OptimizerConfig().minTickIntervalMs, 1_000)
    }

    func testValidJsonSetsItsKeysAndKeepsDefaultsForTheRest() throws {
        let config = try optimizerConfigFromJson(json: #"{"target_p95_latency_ms": 80, "window_ms": 30000, "sample_process": false}"#)
        var expected = defaultOptimizerConfig()
        expected.targetP95LatencyMs = 80
        expected.windowMs = 30_000
        expected.sampleProcess = false
        XCTAssertEqual(config, expected)
        XCTAssertEqual(try optimizerConfigFromJson(json: "{}"), defaultOptimizerConfig())
    }

    func testUnknownKeyThrowsInvalidConfigNamingTheKey() {
        assertThrowsOptimizerError(try _ = optimizerConfigFromJson(json: #"{"target_p95_latency": 80}"#)) {
            guard case let .InvalidConfig(field, reason) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(field, "target_p95_latency")
            XCTAssertTrue(reason.contains("unknown"), reason)
        }
    }

    func testWrongTypeThrowsInvalidConfigNamingTheKey() {
        assertThrowsOptimizerError(try _ = optimizerConfigFromJson(json: #"{"window_ms": "60s"}"#)) {
            guard case let .InvalidConfig(field, _) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(field, "window_ms")
        }
        assertThrowsOptimizerError(try _ = optimizerConfigFromJson(json: #"{"sample_process": 1}"#)) {
            guard case let .InvalidConfig(field, _) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(field, "sample_process")
        }
    }

    func testInvalidValueThrowsInvalidConfigNamingTheKey() {
        assertThrowsOptimizerError(try _ = optimizerConfigFromJson(json: #"{"min_tick_interval_ms": 5000, "max_tick_interval_ms": 1000}"#))
        {
            guard case let .InvalidConfig(field, _) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(field, "min_tick_interval_ms")
        }
    }

    func testMalformedJsonThrowsInvalidConfig() {
        for json in ["not json", "[1, 2]", ""] {
            assertThrowsOptimizerError(try _ = optimizerConfigFromJson(json: json)) {
                guard case let .InvalidConfig(field, _) = $0 else { return XCTFail("\(json): got \($0)") }
                XCTAssertEqual(field, "(document)", json)
            }
        }
    }

    func testRoundTripThroughJson() throws {
        let config = OptimizerConfig(
            targetP95LatencyMs: 123.25, maxHeapMb: 256, hysteresisRatio: 0.75, minTickIntervalMs: 10,
            maxTickIntervalMs: 50, verificationWindowMs: 200, eventQueueCapacity: 8, sampleProcess: false
        )
        let json = optimizerConfigToJson(config: config)
        XCTAssertEqual(try optimizerConfigFromJson(json: json), config)

        // Every key is written, under its snake_case name.
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(object["target_p95_latency_ms"] as? Double, 123.25)
        XCTAssertEqual(object["sample_process"] as? Bool, false)
        XCTAssertEqual(object.count, Mirror(reflecting: config).children.count)
    }
}
