import Foundation
import Hummingbird

/// A request the server refuses: an HTTP status and a JSON body
/// `{"error": {"code": "...", "message": "...", "field": "..."}}` that names the field at fault.
public struct APIError: HTTPResponseError, Equatable {
    public let status: HTTPResponse.Status
    /// A stable machine-readable reason (`bad_json`, `bad_field`, `unknown_user`, ...).
    public let code: String
    public let message: String
    /// The request field (body key, path parameter, query parameter or header) at fault, if one is.
    public let field: String?
    /// Seconds the client should wait before trying again (`Retry-After`), for a 503.
    public let retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil, retryAfter: Int? = nil) {
        self.status = status; self.code = code; self.message = message; self.field = field; self.retryAfter = retryAfter
    }

    /// A field with the wrong type or a value out of its range.
    static func badField(_ field: String, _ message: String) -> APIError {
        APIError(.badRequest, "bad_field", "\(field): \(message)", field: field)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var error: [String: JSON] = ["code": .string(code), "message": .string(message)]
        if let field { error["field"] = .string(field) }
        var response = JSON.object(["error": .object(error)]).response(status: status)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }

    /// The answer to work the engine refused or dropped (503 with `Retry-After`).
    init(_ refusal: EngineRefusal) {
        switch refusal {
        case .queueFull(let kind, let bound):
            self.init(.serviceUnavailable, "overloaded", "the server has \(bound) \(kind) waiting, its bound (--max-queue); try again shortly", retryAfter: 1)
        case .reviewsFull(let bound):
            self.init(.serviceUnavailable, "overloaded", "the server is writing \(bound) reviews, its bound (--max-reviews); try again shortly", retryAfter: 2)
        case .deadlineExceeded(let seconds):
            self.init(.serviceUnavailable, "deadline_exceeded", "the request waited \(seconds) s (--request-timeout) without reaching the model; try again shortly", retryAfter: 1)
        case .clientGone:
            self.init(.serviceUnavailable, "client_gone", "the client closed the connection")
        }
    }
}

/// Turns every error a handler throws into a JSON error response, so a client always gets JSON;
/// an error that is not the server's own (a bug) is logged and answered 500 without its details.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as any HTTPResponseError where error.status == .notFound {
            // A known path asked with another method: 405 and the methods it takes.
            if let allowed = Routes.allowedMethods(request.uri.path) {
                var response = try APIError(.methodNotAllowed, "method_not_allowed", "\(request.uri.path) takes \(allowed.joined(separator: ", ")), not \(request.method)")
                    .response(from: request, context: context)
                response.headers[.allow] = allowed.joined(separator: ", ")
                return response
            }
            return try APIError(.notFound, "not_found", "no such endpoint: \(request.method) \(request.uri.path)").response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            let code: String
            switch error.status {
            case .methodNotAllowed: code = "method_not_allowed"
            case .contentTooLarge: code = "body_too_large"
            case .unauthorized: code = "unauthorized"
            default: code = "http_\(error.status.code)"
            }
            return try APIError(error.status, code, error.status.reasonPhrase).response(from: request, context: context)
        } catch {
            context.logger.error("internal error on \(request.method) \(request.uri.path): \(error)")
            return try APIError(.internalServerError, "internal", "internal error").response(from: request, context: context)
        }
    }
}
