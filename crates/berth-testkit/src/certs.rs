//! Keys and certificates made on the spot: a CA for the registry's TLS and the token signing key.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use std::net::{IpAddr, Ipv4Addr};

/// A PEM certificate with its PEM private key.
pub struct CertAndKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
}

/// A certificate authority and a server certificate it signed for 127.0.0.1 and localhost.
pub struct TlsMaterial {
    /// The CA certificate a client must trust.
    pub ca: CertAndKey,
    /// The server's certificate and key.
    pub server: CertAndKey,
}

/// Makes a fresh CA and a server certificate for loopback.
pub fn tls_material() -> crate::Result<TlsMaterial> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "berth test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key)?;

    let server_key = KeyPair::generate()?;
    let mut server_params = CertificateParams::new(vec!["localhost".to_owned()])?;
    server_params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    server_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let server_cert = server_params.signed_by(&server_key, &issuer)?;
    Ok(TlsMaterial {
        ca: CertAndKey {
            cert_pem: ca_cert.pem(),
            key_pem: ca_key.serialize_pem(),
        },
        server: CertAndKey {
            cert_pem: server_cert.pem(),
            key_pem: server_key.serialize_pem(),
        },
    })
}

/// A self-signed ECDSA P-256 certificate whose key signs bearer tokens; the registry trusts it
/// through its `auth: token: rootcertbundle`.
pub fn token_signer() -> crate::Result<(CertAndKey, Vec<u8>)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "berth test token issuer");
    let cert = params.self_signed(&key)?;
    let der = cert.der().to_vec();
    Ok((
        CertAndKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
        der,
    ))
}
