import Foundation
#if TLS
import NIOSSL
#endif

/// HTTPS for `serve --tls-cert/--tls-key`: the certificate chain and private key, read and checked
/// against each other when the server starts, so that a wrong file stops it with a message naming
/// the file instead of failing every handshake later.
public struct ServerTLS: Sendable {
    public let certificatePath: String
    public let keyPath: String
    #if TLS
    let configuration: TLSConfiguration
    #endif

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case unreadable(path: String, flag: String)
        case noCertificate(path: String)
        case badCertificate(path: String, reason: String)
        case badKey(path: String, reason: String)
        case refusedTogether(key: String, certificate: String, reason: String)
        /// This binary was built without the TLS trait.
        case unavailable

        public var description: String {
            switch self {
            case let .unreadable(path, flag): "\(path): cannot be read (\(flag))"
            case let .noCertificate(path): "\(path): holds no PEM certificate (-----BEGIN CERTIFICATE-----) (--tls-cert)"
            case let .badCertificate(path, reason): "\(path): not a PEM certificate chain: \(reason) (--tls-cert)"
            case let .badKey(path, reason): "\(path): not a PEM private key: \(reason) (--tls-key)"
            case let .refusedTogether(key, certificate, reason): "\(key) with \(certificate): refused by the TLS library (most often: the key does not belong to the chain's first certificate): \(reason) (--tls-key, --tls-cert)"
            case .unavailable: "this cllm4rec was built without HTTPS (swift build --disable-default-traits): build it with the default traits for --tls-cert and --tls-key"
            }
        }
    }

    /// Reads a PEM certificate chain (the server's certificate first, then its intermediates) and
    /// its PEM private key. TLS 1.2 is the oldest version offered.
    public init(certificate: String, key: String) throws {
        certificatePath = certificate; keyPath = key
        #if !TLS
        throw Failure.unavailable
        #else
        guard let certText = FileManager.default.contents(atPath: certificate) else { throw Failure.unreadable(path: certificate, flag: "--tls-cert") }
        guard let keyBytes = FileManager.default.contents(atPath: key) else { throw Failure.unreadable(path: key, flag: "--tls-key") }
        guard String(decoding: certText, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else { throw Failure.noCertificate(path: certificate) }
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMBytes(Array(certText)) } catch {
            throw Failure.badCertificate(path: certificate, reason: "\(error)")
        }
        guard !chain.isEmpty else { throw Failure.noCertificate(path: certificate) }
        let privateKey: NIOSSLPrivateKey
        do { privateKey = try NIOSSLPrivateKey(bytes: Array(keyBytes), format: .pem) } catch {
            throw Failure.badKey(path: key, reason: "\(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        // BoringSSL checks the key against the certificate when the context is made.
        do { _ = try NIOSSLContext(configuration: configuration) } catch {
            throw Failure.refusedTogether(key: key, certificate: certificate, reason: "\(error)")
        }
        self.configuration = configuration
        #endif
    }
}
