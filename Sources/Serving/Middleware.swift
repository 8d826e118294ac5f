import Foundation
import Hummingbird
import Logging

/// One log line per request: method, path, status, milliseconds until the response head (a
/// streamed review goes on after it).
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let ms = (ContinuousClock.now - start).milliseconds
        context.logger.info("\(request.method) \(request.uri.path) \(response.status.code) \(String(format: "%.1f", ms)) ms")
        return response
    }
}

/// Bearer-token check for every endpoint but `/healthz` and `/openapi.json` (a load balancer's
/// probe and the API description carry no data). The comparison takes the same time wherever the
/// first difference is.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]
    static var open: Set<String> { ["/healthz", "/openapi.json"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !Self.open.contains(request.uri.path) else { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), constantTimeEqual(Array(header.utf8.dropFirst(prefix.utf8.count)), token) else {
            var response = try APIError(.unauthorized, "unauthorized", "a valid `Authorization: Bearer TOKEN` header is required",
                                        field: "Authorization").response(from: request, context: context)
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }
}

/// Whether two byte strings are equal, in time that depends only on their lengths.
///
///     constantTimeEqual(Array("abc".utf8), Array("abd".utf8))  // false, after reading all three bytes
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var diff = UInt8(a.count == b.count ? 0 : 1)
    let n = max(a.count, b.count)
    for i in 0..<n {
        let x = i < a.count ? a[i] : 0, y = i < b.count ? b[i] : 0
        diff |= x ^ y
    }
    return diff == 0
}

extension Duration {
    /// The duration in milliseconds.
    ///
    ///     Duration.microseconds(2500).milliseconds  // 2.5
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
