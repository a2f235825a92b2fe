import FlyingFox
import Foundation
import QLoRACore

/// `qlora board`'s HTTP server (FlyingFox): the page at `/`, every run's data at `/api/runs`
/// (polled by the page), and the runs' own files at `/runs/<index>/<path>` through
/// `BoardRuns.resolve`. GET only; nothing else is served.
public enum BoardServer {
    /// Serves until the process ends; calls `listening` with the bound address's port first.
    public static func run(_ runs: BoardRuns, host: String, port: UInt16, listening: @escaping @Sendable (UInt16) -> Void) async throws {
        let address: sockaddr_in
        do { address = try sockaddr_in.inet(ip4: host, port: port) } catch {
            throw QLoRAError.invalid("--host \(host): not an IPv4 address")
        }
        let server = HTTPServer(address: address, timeout: 30, logger: .disabled)
        await server.appendRoute("GET /") { _ in
            HTTPResponse(statusCode: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                         body: Data(BoardPage.html.utf8))
        }
        await server.appendRoute("GET /api/runs") { _ in
            HTTPResponse(statusCode: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                         body: try runs.snapshotJSON())
        }
        await server.appendRoute("GET /runs/*") { request in
            file(runs, request.path)
        }
        await server.appendRoute("*") { _ in text(.notFound, "not found\n") }
        let task = Task { try await server.run() }
        do {
            try await server.waitUntilListening(timeout: 10)
        } catch {
            task.cancel()
            _ = try? await task.value
            throw QLoRAError.io("\(host):\(port)", "cannot listen: \(error)")
        }
        if case .ip4(_, let bound)? = await server.listeningAddress { listening(bound) } else { listening(port) }
        do { try await task.value } catch {
            throw QLoRAError.io("\(host):\(port)", "server stopped: \(error)")
        }
    }

    /// `/runs/<index>/<relative path>`: 200 with the file, 403 outside the run, 404 otherwise.
    static func file(_ runs: BoardRuns, _ path: String) -> HTTPResponse {
        let parts = path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        // ["", "runs", "<index>/<rest>"]
        guard parts.count == 3 else { return text(.notFound, "not found\n") }
        let rest = parts[2].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard rest.count == 2, let index = Int(rest[0]) else { return text(.notFound, "not found\n") }
        do {
            let data = try runs.read(run: index, String(rest[1]))
            return HTTPResponse(statusCode: .ok, headers: [.contentType: contentType(String(rest[1])), .cacheControl: "no-store"], body: data)
        } catch .forbidden {
            return text(.forbidden, "forbidden: outside the run directories\n")
        } catch {
            return text(.notFound, "not found\n")
        }
    }

    static func text(_ status: HTTPStatusCode, _ s: String) -> HTTPResponse {
        HTTPResponse(statusCode: status, headers: [.contentType: "text/plain; charset=utf-8"], body: Data(s.utf8))
    }

    static func contentType(_ name: String) -> String {
        switch URL(fileURLWithPath: name).pathExtension {
        case "json": return "application/json"
        case "jsonl", "md", "txt", "log": return "text/plain; charset=utf-8"
        case "svg": return "image/svg+xml"
        default: return "application/octet-stream"
        }
    }
}
