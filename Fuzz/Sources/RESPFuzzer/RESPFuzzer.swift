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

// Small limits reach the limit checks often; the defaults are exercised by the unit tests. The depth limit is
// the default's: deep attribute chains must meet it, not the stack.
private let limits = RESPParser.Limits(maxDepth: 32, maxBulkLength: 4096, maxAggregateLength: 1024, maxLineLength: 256)

/// Parses all of `bytes`, fed in chunks of `chunk` bytes; returns the values and the error that ended it.
private func parseAll(_ bytes: UnsafeBufferPointer<UInt8>, chunk: Int) -> ([RESPValue], RESPParsingError?) {
    var parser = RESPParser(limits: limits)
    var buffer = ByteBuffer()
    var values: [RESPValue] = []
    var offset = 0
    while offset < bytes.count {
        let end = min(offset + chunk, bytes.count)
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[offset..<end]))
        offset = end
        while buffer.readableBytes > 0 {
            let before = buffer
            do {
                guard let value = try parser.parse(&buffer) else {
                    precondition(buffer == before && buffer.readerIndex == before.readerIndex, "need-more consumed bytes")
                    break
                }
                precondition(buffer.readerIndex > before.readerIndex, "a value consumed nothing")
                precondition(buffer.readerIndex <= buffer.writerIndex, "over-read")
                values.append(value)
            } catch {
                precondition(error.offset >= 0 && error.offset <= before.readableBytes, "error offset outside the input")
                return (values, error)
            }
        }
    }
    return (values, nil)
}

/// libFuzzer calls this with arbitrary bytes. The parser must never crash (deep nesting included), never
/// over-read, never consume bytes when it asks for more, give the same values and error however the bytes are
/// split, and whatever it parses must re-encode to something that parses the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESPParser(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: start, count: count)
    let (values, error) = parseAll(bytes, chunk: max(count, 1))
    // Split into chunks of a size the input picks: resumable parsing must not change the outcome.
    let chunk = count > 0 ? Int(bytes[count / 2] % 16) + 1 : 1
    let (splitValues, splitError) = parseAll(bytes, chunk: chunk)
    precondition(values == splitValues, "split feeding changed the values")
    precondition(error?.code == splitError?.code, "split feeding changed the error")
    var parser = RESPParser(limits: limits)
    for value in values {
        var encoded = value.encoded
        do {
            let again = try parser.parse(&encoded)
            precondition(again == value, "re-encoded value parses differently")
            precondition(encoded.readableBytes == 0, "re-encoded value left bytes")
        } catch {
            preconditionFailure("a re-encoded value does not parse: \(error)")
        }
    }
    return 0
}
