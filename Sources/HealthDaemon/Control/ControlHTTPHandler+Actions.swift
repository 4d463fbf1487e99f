import NIOCore

/// Request handlers answered asynchronously (export, reconnect): their work runs in the server's
/// ``ControlServer/run()``, off the event loop, and the answer is written back on the connection's loop.
extension ControlHTTPHandler {
    func export(_ name: String?, context: ChannelHandlerContext) {
        let backend = self.backend
        self.logger.notice("Diagnostics export requested on the control socket", metadata: ["redis.target": "\(name ?? "all")"])
        self.answerLater(context: context, { await backend.export(target: name) }) { handler, context, outcome in
            switch outcome {
            case .bundle(let bundle):
                handler.respond(context: context, status: .ok, json: bundle)
            case .noSuchTarget:
                handler.respond(context: context, status: .notFound, json: error("no target named \(name ?? "")"))
            case .busy:
                handler.respond(
                    context: context, status: .conflict, json: error("an export is already running; try again when it has finished"))
            }
        }
    }

    func reconnect(_ name: String, context: ChannelHandlerContext) {
        let backend = self.backend
        self.logger.notice("Reconnect requested on the control socket", metadata: ["redis.target": "\(name)"])
        self.answerLater(context: context, { await backend.reconnect(target: name) }) { handler, context, outcome in
            if let outcome {
                handler.respond(context: context, status: .ok, json: "{\"target\":\(jsonString(name)),\"outcome\":\(jsonString(outcome))}")
            } else {
                handler.respond(context: context, status: .notFound, json: error("no target named \(name)"))
            }
        }
    }

    /// Runs `work` off the event loop (in the server's ``ControlServer/run()``), then `answer` with its result back
    /// on the connection's loop. A server that is stopping answers 503 at once.
    private func answerLater<Result: Sendable>(
        context: ChannelHandlerContext, _ work: @escaping @Sendable () async -> Result,
        _ answer: @escaping (ControlHTTPHandler, ChannelHandlerContext, Result) -> Void
    ) {
        let eventLoop = context.eventLoop
        let loopBound = NIOLoopBound((self, context, answer), eventLoop: eventLoop)
        let queued = self.work.submit {
            let result = await work()
            eventLoop.execute {
                let (handler, context, answer) = loopBound.value
                answer(handler, context, result)
            }
        }
        if !queued {
            self.respond(context: context, status: .serviceUnavailable, json: error("the daemon is stopping"), close: true)
        }
    }
}
