//! The address of a remote cache, as a person writes it: `grpc://HOST:PORT[/INSTANCE]`.

use std::fmt;
use std::str::FromStr;

use super::RemoteError;

/// Where a Remote Execution API server listens and which of its instances to use.
///
/// It exists so that one string given on the command line or in a config file names both the
/// gRPC endpoint and the REAPI instance name that every request carries. `http://` is
/// accepted as a synonym of `grpc://` (both mean plaintext gRPC); TLS is not supported yet, so
/// `grpcs://` and `https://` are refused rather than silently downgraded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteUrl {
    /// Host name or IP address (an IPv6 address without its brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// REAPI instance name: the path after the port, without its leading `/` (may be empty).
    pub instance: String,
}

impl RemoteUrl {
    /// The URL tonic connects to: `http://HOST:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.authority())
    }

    /// `HOST:PORT`, the way error messages name the server (IPv6 hosts in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "grpc://{}", self.authority())?;
        if !self.instance.is_empty() {
            write!(f, "/{}", self.instance)?;
        }
        Ok(())
    }
}

impl FromStr for RemoteUrl {
    type Err = RemoteError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| RemoteError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(bad("it has no scheme"));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "grpc" | "http" => {}
            "grpcs" | "https" => return Err(bad("TLS is not supported yet")),
            _ => return Err(bad(&format!("the scheme `{scheme}` is not supported"))),
        }
        let (authority, instance) = match rest.split_once('/') {
            Some((authority, path)) => (authority, path.trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        if instance.contains(['?', '#']) {
            return Err(bad("query strings and fragments are not supported"));
        }
        let bad_segment = |part: &str| {
            matches!(
                part,
                "" | "." | ".." | "blobs" | "uploads" | "actions" | "operations"
            )
        };
        if !instance.is_empty() && instance.split('/').any(bad_segment) {
            return Err(bad(
                "the instance name has an empty, `.` or `..` segment, or a segment REAPI reserves \
                 (blobs, uploads, actions, operations)",
            ));
        }
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let Some((host, after)) = inner.split_once(']') else {
                return Err(bad("the IPv6 address has no closing `]`"));
            };
            let Some(port) = after.strip_prefix(':') else {
                return Err(bad("it has no port"));
            };
            (host, port)
        } else {
            let Some((host, port)) = authority.rsplit_once(':') else {
                return Err(bad("it has no port"));
            };
            if host.contains(':') {
                return Err(bad("an IPv6 address must be written in brackets"));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        {
            return Err(bad("the host has characters a host name cannot have"));
        }
        let port: u16 = match port.parse() {
            Ok(0) | Err(_) => return Err(bad(&format!("`{port}` is not a TCP port"))),
            Ok(port) => port,
        };
        Ok(RemoteUrl {
            host: host.to_string(),
            port,
            instance: instance.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(url: &str) -> Result<RemoteUrl, RemoteError> {
        url.parse()
    }

    #[test]
    fn grpc_without_instance() {
        let url = parse("grpc://cache.example:8980").unwrap();
        assert_eq!(url.host, "cache.example");
        assert_eq!(url.port, 8980);
        assert_eq!(url.instance, "");
        assert_eq!(url.endpoint(), "http://cache.example:8980");
        assert_eq!(url.to_string(), "grpc://cache.example:8980");
    }

    #[test]
    fn http_is_grpc_and_instance_is_the_path() {
        let url = parse("http://127.0.0.1:50051/main/sub/").unwrap();
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 50051);
        assert_eq!(url.instance, "main/sub");
        assert_eq!(url.to_string(), "grpc://127.0.0.1:50051/main/sub");
    }

    #[test]
    fn ipv6_in_brackets() {
        let url = parse("grpc://[::1]:9092/i").unwrap();
        assert_eq!(url.host, "::1");
        assert_eq!(url.authority(), "[::1]:9092");
        assert_eq!(url.endpoint(), "http://[::1]:9092");
    }

    #[test]
    fn refusals_say_why() {
        for (url, why) in [
            ("cache:8980", "no scheme"),
            ("https://h:1", "TLS"),
            ("grpcs://h:1", "TLS"),
            ("ftp://h:1", "`ftp` is not supported"),
            ("grpc://h", "no port"),
            ("grpc://h:", "is not a TCP port"),
            ("grpc://h:0", "is not a TCP port"),
            ("grpc://h:99999", "is not a TCP port"),
            ("grpc://:80", "no host"),
            ("grpc://u@h:80", "credentials"),
            ("grpc://::1:80", "brackets"),
            ("grpc://[::1:80", "closing"),
            ("grpc://h:80/a//b", "instance name"),
            ("grpc://h:80/a/blobs", "instance name"),
            ("grpc://h:80/x?y=1", "query"),
            ("grpc://h o:80", "characters"),
        ] {
            let err = parse(url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
            assert!(err.contains(url), "{url}: {err}");
            assert!(err.contains("grpc://HOST:PORT"), "{url}: {err}");
        }
    }

    proptest! {
        #[test]
        fn display_parses_back(
            host in "[a-z][a-z0-9-]{0,20}(\\.[a-z0-9-]{1,10}){0,3}",
            port in 1u16..,
            instance in "([a-z0-9_-]{1,8}(/[a-z0-9_-]{1,8}){0,2})?",
        ) {
            prop_assume!(!instance.split('/').any(|p| matches!(p, "blobs" | "uploads" | "actions" | "operations")));
            let url = RemoteUrl { host, port, instance };
            prop_assert_eq!(parse(&url.to_string()).unwrap(), url);
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }
    }
}
