import CLibFuzzer
import NIOCore
import RESP

/// SwiftPM links an executable's entry point as `RESPFuzzer_main` (and aliases `main` to it), so libFuzzer's own
/// `main` is not used: this one hands control to libFuzzer's driver.
@_cdecl("RESPFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        guard let data else { return 0 }
        return fuzzRESPParser(data, size)
    }
}

/// libFuzzer calls this with arbitrary bytes. The parser must never crash, never over-read, never consume
/// bytes when it asks for more, and whatever it parses must re-encode to something that parses the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESPParser(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: start, count: count)
    // Small limits reach the limit checks often; the defaults are exercised by the unit tests.
    var parser = RESPParser(limits: .init(maxDepth: 16, maxBulkLength: 4096, maxAggregateLength: 1024, maxLineLength: 256))
    var buffer = ByteBuffer(bytes: bytes)
    while buffer.readableBytes > 0 {
        let before = buffer
        do {
            guard let value = try parser.parse(&buffer) else {
                precondition(buffer == before && buffer.readerIndex == before.readerIndex, "need-more consumed bytes")
                break
            }
            precondition(buffer.readerIndex > before.readerIndex, "a value consumed nothing")
            precondition(buffer.readerIndex <= buffer.writerIndex, "over-read")
            var encoded = value.encoded
            let again = try parser.parse(&encoded)
            precondition(again == value, "re-encoded value parses differently")
            precondition(encoded.readableBytes == 0, "re-encoded value left bytes")
        } catch {
            precondition(error.offset >= 0 && error.offset <= before.readableBytes, "error offset outside the input")
            break
        }
    }
    return 0
}
