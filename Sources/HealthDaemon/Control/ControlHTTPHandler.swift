#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// HTTP routing on one control connection: a request read within the limits, routed by method and path to
/// its answer, and the response written (JSON, keep-alive or close).
final class ControlHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let backend: any ControlBackend
    /// nil: the TCP metrics listener, which serves GET /metrics only.
    let socketPath: String?
    let logger: Logger
    /// Told when a request is complete and when its answer went out (timeouts, room-making).
    private let deadline: RequestDeadlineHandler
    /// Where asynchronous answers (export, reconnect) are worked out.
    let work: RequestWork
    private var head: HTTPRequestHead?
    /// Whether the connection stays open after the response (HTTP/1.1 keep-alive, no `Connection: close`).
    private var keepAlive = true
    private var bodySize = 0
    private var rejected = false

    init(backend: any ControlBackend, socketPath: String?, deadline: RequestDeadlineHandler, work: RequestWork, logger: Logger) {
        self.backend = backend
        self.socketPath = socketPath
        self.deadline = deadline
        self.work = work
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.keepAlive = head.isKeepAlive
            self.bodySize = 0
            self.rejected = false
        case .body(let body):
            self.bodySize += body.readableBytes
            if self.bodySize > ControlServer.maxBodySize && !self.rejected {
                self.rejected = true
                self.respond(context: context, status: .payloadTooLarge, json: error("request body larger than \(ControlServer.maxBodySize) bytes"), close: true)
            }
        case .end:
            guard let head = self.head, !self.rejected else { return }
            self.head = nil
            self.deadline.requestReceived()
            self.route(head, context: context)
        }
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let parts = head.uri.split(separator: "?", maxSplits: 1)
        let path = parts.first.map(String.init) ?? "/"
        let query = parts.count > 1 ? String(parts[1]) : ""
        let segments = path.split(separator: "/").map(String.init)
        if self.socketPath == nil && !(head.method == .GET && segments == ["metrics"]) {
            self.respond(context: context, status: .notFound, json: error("only GET /metrics is served here"))
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]

        switch (head.method, segments.first, segments.count) {
        case (.GET, "status", 1):
            self.respond(context: context, status: .ok, json: encode(encoder, self.backend.statusDocument()))
        case (.GET, "status", 2):
            let name = segments[1].percentDecoded ?? segments[1]
            let document = self.backend.statusDocument()
            if let target = document.targets.first(where: { $0.name == name }) {
                self.respond(context: context, status: .ok, json: encode(encoder, target))
            } else {
                self.respond(context: context, status: .notFound, json: error("no target named \(name)"))
            }
        case (.GET, "metrics", 1):
            self.respond(
                context: context, status: .ok, body: self.backend.metricsText(),
                contentType: "text/plain; version=0.0.4; charset=utf-8")
        case (.GET, "events", 1):
            var since = 0
            var target: String?
            for pair in query.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.first == "since" {
                    guard kv.count == 2, let value = Int(kv[1]), value >= 0 else {
                        self.respond(context: context, status: .badRequest, json: error("since must be a non-negative event number"))
                        return
                    }
                    since = value
                } else if kv.first == "target", kv.count == 2 {
                    target = kv[1].percentDecoded ?? String(kv[1])
                }
            }
            self.respond(context: context, status: .ok, json: encode(encoder, self.backend.events(since: since, target: target)))
        case (.GET, "topology", 2):
            let name = segments[1].percentDecoded ?? segments[1]
            if let document = self.backend.topology(target: name) {
                self.respond(context: context, status: .ok, json: encode(encoder, document))
            } else {
                self.respond(context: context, status: .notFound, json: error("no target named \(name)"))
            }
        case (.GET, "export", 1), (.GET, "export", 2):
            // The bundle holds the servers' configuration: the same peers as for reconnect.
            let name = segments.count == 2 ? (segments[1].percentDecoded ?? segments[1]) : nil
            self.ifPeerMayMutate(context: context, action: "export") { handler, context in handler.export(name, context: context) }
        case (.POST, "reconnect", 2):
            let name = segments[1].percentDecoded ?? segments[1]
            self.ifPeerMayMutate(context: context, action: "reconnect") { handler, context in handler.reconnect(name, context: context) }
        case (_, "status", 1), (_, "status", 2), (_, "events", 1), (_, "reconnect", 2), (_, "metrics", 1), (_, "topology", 2),
            (_, "export", 1), (_, "export", 2):
            self.respond(context: context, status: .methodNotAllowed, json: error("\(head.method) is not allowed on \(path)"))
        default:
            self.respond(
                context: context, status: .notFound,
                json: error(
                    "unknown path \(path); try GET /status, GET /status/{target}, GET /topology/{target}, GET /events?since=N, GET /metrics, GET /export, GET /export/{target}, POST /reconnect/{target}"
                ))
        }
    }

    func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, json: String, close: Bool = false) {
        self.respond(context: context, status: status, body: json + "\n", contentType: "application/json", close: close)
    }

    func respond(
        context: ChannelHandlerContext, status: HTTPResponseStatus, body: String, contentType: String, close: Bool = false
    ) {
        let close = close || !self.keepAlive
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        if close { headers.add(name: "Connection", value: "close") }
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        if close {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in
                loopBound.value.close(promise: nil)
            }
        } else {
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            self.deadline.answered()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

private func encode(_ encoder: JSONEncoder, _ value: some Encodable) -> String {
    (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
}
