// The AsyncStream wrapper: a bounded stream fed from MeshTune's dispatcher thread, in order,
// that says what it could not deliver (so that an undelivered action can be refused).
import Foundation

/// What became of one element sent into an EventChannel.
enum ChannelDelivery<Element> {
    /// Buffered for (or handed to) the consumer.
    case enqueued
    /// The buffer was full: this element was not delivered.
    case dropped(Element)
    /// The stream was finished (stopped, or its consumer went away): not delivered.
    case finished(Element)
}

/// An AsyncStream with a bounded buffer that keeps the oldest elements (so the consumer sees a
/// prefix of the sequence, in order, and each element beyond it is reported back).
final class EventChannel<Element>: @unchecked Sendable {
    let stream: AsyncStream<Element>
    private let continuation: AsyncStream<Element>.Continuation

    init(capacity: Int) {
        var c: AsyncStream<Element>.Continuation!
        stream = AsyncStream(bufferingPolicy: .bufferingOldest(Swift.max(1, capacity))) { c = $0 }
        continuation = c
    }

    /// Sends `element`; thread-safe, ordered as the calls are.
    func send(_ element: Element) -> ChannelDelivery<Element> {
        switch continuation.yield(element) {
        case .enqueued: return .enqueued
        case .dropped: return .dropped(element)
        case .terminated: return .finished(element)
        @unknown default: return .dropped(element)
        }
    }

    /// Ends the stream: the consumer's loop ends after the buffered elements.
    func finish() {
        continuation.finish()
    }
}
