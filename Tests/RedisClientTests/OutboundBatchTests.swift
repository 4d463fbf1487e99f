import Testing

@testable import RedisClient

/// The auto-pipelining batch on its own: which append asks the event loop for a drain, and that nothing is lost or
/// left waiting past its deadline. Deadlines are plain integers here.
@Suite("Outbound batch (auto-pipelining decisions)")
struct OutboundBatchTests {
    typealias Batch = OutboundBatch<String, Int>

    static func isSchedule(_ action: Batch.AppendAction) -> Bool {
        if case .scheduleDrain = action { return true }
        return false
    }

    static func isNone(_ action: Batch.AppendAction) -> Bool {
        if case .none = action { return true }
        return false
    }

    static func refusal(_ action: Batch.AppendAction) -> RedisClientError? {
        if case .refused(let error) = action { return error }
        return nil
    }

    @Test("with nothing awaited, the first command of a batch asks for one drain; the others only join it")
    func firstAsks() {
        var batch = Batch()
        #expect(Self.isSchedule(batch.append("a", deadline: 10)))
        #expect(Self.isNone(batch.append("b", deadline: 10)))
        #expect(Self.isNone(batch.append("c", deadline: 5)))
        var taken: [String] = []
        batch.take(swappingWith: &taken)
        #expect(taken == ["a", "b", "c"])
        #expect(batch.elements.isEmpty)
        // Taken: the next command asks again.
        #expect(Self.isSchedule(batch.append("d", deadline: 10)))
    }

    @Test("while the loop will be back in time by itself, commands join silently; one due earlier asks")
    func loopReturns() {
        var batch = Batch()
        var spare: [String] = []
        batch.take(swappingWith: &spare)
        batch.loopReturns(by: 100)
        #expect(Self.isNone(batch.append("due later", deadline: 150)))
        #expect(Self.isNone(batch.append("due then", deadline: 100)))
        #expect(Self.isSchedule(batch.append("due sooner", deadline: 99)), "it would wait past its deadline")
        #expect(Self.isNone(batch.append("after the ask", deadline: 1)), "the drain asked for takes it too")
        batch.take(swappingWith: &spare)
        #expect(spare == ["due later", "due then", "due sooner", "after the ask"])
    }

    @Test("a drain forgets the loop's promise until the loop gives a new one; nil means it will not come back")
    func takeResetsPromise() {
        var batch = Batch()
        batch.loopReturns(by: 100)
        #expect(Self.isNone(batch.append("a", deadline: 200)))
        var spare: [String] = []
        batch.take(swappingWith: &spare)
        #expect(batch.loopReturnsBy == nil)
        // Between the drain and the loop's new word, a command asks: it cannot rely on the old promise.
        #expect(Self.isSchedule(batch.append("b", deadline: 200)))
        spare.removeAll()
        batch.take(swappingWith: &spare)
        batch.loopReturns(by: nil)
        #expect(Self.isSchedule(batch.append("c", deadline: 1_000)), "nothing awaited: the loop must be asked")
    }

    @Test("the spare storage is swapped in, so a steady stream of batches reuses two buffers")
    func storageReused() {
        var batch = Batch()
        var spare: [String] = []
        spare.reserveCapacity(64)
        _ = batch.append("a", deadline: 1)
        batch.take(swappingWith: &spare)
        #expect(spare == ["a"])
        #expect(batch.elements.capacity >= 64, "the spare's storage now takes the next batch")
    }

    @Test("a pipeline joins as one block, and an empty one asks for nothing")
    func together() {
        var batch = Batch()
        #expect(Self.isNone(batch.append(contentsOf: [String](), deadline: 1)))
        #expect(Self.isSchedule(batch.append(contentsOf: ["ASKING", "GET"], deadline: 1)))
        #expect(Self.isNone(batch.append("other", deadline: 1)))
        #expect(batch.elements == ["ASKING", "GET", "other"])
    }

    @Test("closing hands back what waited and refuses later commands with the first error")
    func close() {
        var batch = Batch()
        _ = batch.append("a", deadline: 1)
        _ = batch.append("b", deadline: 1)
        let first = RedisClientError(.connectionClosed, message: "the server closed the connection")
        #expect(batch.close(first) == ["a", "b"])
        #expect(batch.close(RedisClientError(.socket, message: "later")).isEmpty)
        batch.loopReturns(by: 100)
        #expect(batch.loopReturnsBy == nil, "a closed batch relies on no loop")
        let refused = Self.refusal(batch.append("c", deadline: 1))
        #expect(refused?.code == .connectionClosed)
        #expect(refused?.message == "the server closed the connection")
        #expect(Self.refusal(batch.append(contentsOf: ["d", "e"], deadline: 1))?.code == .connectionClosed)
        #expect(batch.elements.isEmpty)
    }
}
