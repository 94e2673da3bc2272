// The learned state through the generated API: export, import, and a refused document.
import MeshTune
import XCTest

final class LearnedStateTests: XCTestCase {
    func testLearnedStateRoundTripsAndACorruptDocumentIsRefusedNamingItsPart() throws {
        let optimizer = try startOptimizer(config: fastConfig(), listener: RecordingListener())
        defer { optimizer.stop() }
        let saved = optimizer.exportLearnedState()
        XCTAssertTrue(saved.contains("\"format\":\"meshtune-learned-state\"") && saved.contains("\"version\":1"), saved)
        try optimizer.importLearnedState(json: saved)
        XCTAssertEqual(optimizer.exportLearnedState(), saved)
        assertThrowsOptimizerError(
            try optimizer.importLearnedState(json: saved.replacingOccurrences(of: "\"version\":1", with: "\"version\":9"))
        ) {
            guard case let .InvalidConfig(field, _) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(field, "learned_state.version")
        }
        XCTAssertEqual(optimizer.exportLearnedState(), saved, "a refused document changed nothing")
    }
}
