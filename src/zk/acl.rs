//! Access control: the `world`, `digest`, `ip` and `auth` schemes as
//! ZooKeeper's providers define them, and the permission check.

use base64::Engine;

use super::proto::{perms, Acl, ErrorCode, Id};

/// `DigestAuthenticationProvider.generateDigest`: "user:base64(sha1(user:pass))".
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = sha1(user_password.as_bytes());
    format!("{user}:{}", base64::engine::general_purpose::STANDARD.encode(hash))
}

/// Whether `auth` (a session's authenticated ids) grants any bit of `perm`.
pub fn check(acl: &[Acl], auth: &[Id], perm: i32) -> Result<(), ErrorCode> {
    for a in acl {
        if a.perms & perm == 0 {
            continue;
        }
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return Ok(());
        }
        if auth.iter().any(|id| matches(&a.id, id)) {
            return Ok(());
        }
    }
    Err(ErrorCode::NoAuth)
}

fn matches(acl_id: &Id, who: &Id) -> bool {
    if acl_id.scheme != who.scheme {
        return false;
    }
    match acl_id.scheme.as_str() {
        "ip" => ip_matches(&acl_id.id, &who.id),
        _ => acl_id.id == who.id,
    }
}

/// `IPAuthenticationProvider.matches`: an address or address/bits.
fn ip_matches(pattern: &str, addr: &str) -> bool {
    let (net, bits) = match pattern.split_once('/') {
        Some((n, b)) => match b.parse::<u32>() {
            Ok(b) => (n, b),
            Err(_) => return false,
        },
        None => (pattern, 32),
    };
    match (net.parse::<std::net::Ipv4Addr>(), addr.parse::<std::net::Ipv4Addr>()) {
        (Ok(n), Ok(a)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits.min(32)) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        _ => pattern == addr,
    }
}

/// `PrepRequestProcessor.fixupACL`: checks each entry and expands the
/// `auth` scheme into the session's authenticated ids.
pub fn fixup(acl: &[Acl], auth: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    if acl.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out: Vec<Acl> = Vec::new();
    for a in acl {
        if a.perms & !perms::ALL != 0 || a.perms == 0 {
            return Err(ErrorCode::InvalidAcl);
        }
        match a.id.scheme.as_str() {
            "world" if a.id.id == "anyone" => out.push(a.clone()),
            "auth" => {
                let mut any = false;
                for id in auth.iter().filter(|id| id.scheme != "ip") {
                    any = true;
                    out.push(Acl { perms: a.perms, id: id.clone() });
                }
                if !any {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" if a.id.id.contains(':') => out.push(a.clone()),
            "ip" if ip_valid(&a.id.id) => out.push(a.clone()),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    out.dedup();
    Ok(out)
}

fn ip_valid(s: &str) -> bool {
    let (net, bits) = s.split_once('/').unwrap_or((s, "32"));
    net.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u32>().is_ok_and(|b| b <= 128)
}

/// SHA-1 (FIPS 180-4), needed only for digest ids.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t =
                a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha1_known_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(&sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        let long = [b'a'; 1000];
        assert_eq!(hex(&sha1(&long)), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
    }

    #[test]
    fn digest_matches_zookeeper() {
        // From `java org.apache.zookeeper.server.auth.DigestAuthenticationProvider super:superpw` (3.8.0).
        assert_eq!(digest_id("super:superpw"), "super:g9oN2HttPfn8MMWJZ2r45Np/LIA=");
    }

    #[test]
    fn checks_and_fixups() {
        let digest = Id { scheme: "digest".into(), id: digest_id("u:p") };
        let acl = vec![Acl { perms: perms::READ, id: digest.clone() }];
        assert_eq!(check(&acl, &[], perms::READ), Err(ErrorCode::NoAuth), "anonymous is refused");
        assert_eq!(
            check(&acl, std::slice::from_ref(&digest), perms::READ),
            Ok(()),
            "the digest owner reads"
        );
        assert_eq!(
            check(&acl, std::slice::from_ref(&digest), perms::WRITE),
            Err(ErrorCode::NoAuth)
        );
        let ip = vec![Acl { perms: 31, id: Id { scheme: "ip".into(), id: "127.0.0.0/8".into() } }];
        let me = Id { scheme: "ip".into(), id: "127.0.0.1".into() };
        assert_eq!(check(&ip, std::slice::from_ref(&me), perms::READ), Ok(()), "CIDR match");
        let auth = vec![Acl { perms: 31, id: Id { scheme: "auth".into(), id: "".into() } }];
        assert_eq!(
            fixup(&auth, std::slice::from_ref(&me)),
            Err(ErrorCode::InvalidAcl),
            "auth needs a real user"
        );
        assert_eq!(fixup(&auth, &[me, digest.clone()]).unwrap()[0].id, digest);
        assert_eq!(fixup(&[], &[]), Err(ErrorCode::InvalidAcl), "empty ACL");
    }
}
