// `scripts/test-swift.sh --bench`: what one call into MeshTune costs from Swift (release build).
//
// Measures ffiFloor() (an exported empty Rust function: the bare cost of crossing the FFI),
// record(sample:) and recordBatch(samples:) of 100 samples (reported per sample). Each is
// warmed up, then timed over ROUNDS rounds; the figure is the median ns per call (or per
// sample) over the rounds, with the fastest and slowest round beside it.
import Foundation
import MeshTune

final class QuietListener: ActionListener, @unchecked Sendable {
    func onAction(event: ActionEvent) {}
    func onOutcome(event: OutcomeEvent) {}
}

let rounds = Int(ProcessInfo.processInfo.environment["MESHTUNE_BENCH_ROUNDS"] ?? "") ?? 15

@inline(never)
func measure(_ name: String, callsPerRound: Int, itemsPerCall: Int, _ body: () -> Void) {
    for _ in 0..<callsPerRound { body() }  // warm-up: one untimed round
    var perItem: [Double] = []
    for _ in 0..<rounds {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<callsPerRound { body() }
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        perItem.append(Double(elapsed) / Double(callsPerRound * itemsPerCall))
    }
    perItem.sort()
    let median =
        perItem.count % 2 == 1
        ? perItem[perItem.count / 2]
        : (perItem[perItem.count / 2 - 1] + perItem[perItem.count / 2]) / 2
    let unit = itemsPerCall == 1 ? "ns/call  " : "ns/sample"
    let label = name.padding(toLength: 34, withPad: " ", startingAt: 0)
    print(
        String(
            format: "%@ %9.1f %@  (min %.1f, max %.1f; %d calls x %d rounds)",
            label, median, unit, perItem.first!, perItem.last!, callsPerRound, rounds))
}

// The largest ingestion queue, so that record never meets Overloaded; any that does is counted.
let config = OptimizerConfig(sampleQueueCapacity: 16_777_216, sampleProcess: false)
let optimizer = try startOptimizer(config: config, listener: QuietListener())
var errors = 0
let sample = MetricSample.messageDelivered(latencyMs: 42.5, hops: 2, bytes: 256)
let batch = Array(repeating: sample, count: 100)

print("MeshTune Swift FFI benchmark: release build, median of \(rounds) rounds after one warm-up round")
measure("ffiFloor()", callsPerRound: 1_000_000, itemsPerCall: 1) { ffiFloor() }
measure("record(sample:)", callsPerRound: 100_000, itemsPerCall: 1) {
    do { try optimizer.record(sample: sample) } catch { errors += 1 }
}
measure("recordBatch(samples:) of 100", callsPerRound: 2_000, itemsPerCall: 100) {
    do { try optimizer.recordBatch(samples: batch) } catch { errors += 1 }
}
let counters = optimizer.snapshot().counters
optimizer.stop()
print("samples accepted \(counters.samplesAccepted), dropped \(counters.samplesDropped), calls that threw \(errors)")
