//! The `/etc` files the sandbox makes up from the spec: the build user's `passwd` and
//! `group`, and `hosts` and `hostname` naming the sandbox's host. Init binds them over
//! the host's; the tripwire serves them itself where it mirrors `/etc`.

use super::spec::{SandboxSpec, SandboxUser};

/// The `/etc` files the sandbox makes up: (name, contents, whether the host must have a
/// file there to cover). The build user's passwd and group, and hosts and hostname
/// matching the sandbox's host name.
pub(crate) fn generated_etc(spec: &SandboxSpec) -> [(&'static str, String, bool); 4] {
    [
        ("passwd", passwd(&spec.user), true),
        ("group", group(&spec.user), true),
        ("hosts", hosts(&spec.hostname), false),
        ("hostname", format!("{}\n", spec.hostname), false),
    ]
}

/// The sandbox's `/etc/hosts`: loopback names and its own host name.
fn hosts(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
    )
}

/// The sandbox's `/etc/passwd`: root, the build user and nobody.
fn passwd(user: &SandboxUser) -> String {
    let mut out = String::new();
    if user.uid != 0 && user.name != "root" {
        out.push_str("root:x:0:0:root:/root:/bin/sh\n");
    }
    out.push_str(&format!(
        "{name}:x:{uid}:{gid}:{name}:{home}:/bin/sh\n",
        name = user.name,
        uid = user.uid,
        gid = user.gid,
        home = user.home.display()
    ));
    if user.uid != 65534 && user.name != "nobody" {
        out.push_str("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    }
    out
}

/// The sandbox's `/etc/group`: root, the build user's group and nogroup.
fn group(user: &SandboxUser) -> String {
    let mut out = String::new();
    if user.gid != 0 && user.group != "root" {
        out.push_str("root:x:0:\n");
    }
    out.push_str(&format!("{}:x:{}:{}\n", user.group, user.gid, user.name));
    if user.gid != 65534 && user.group != "nogroup" {
        out.push_str("nogroup:x:65534:\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, name: &str) -> SandboxUser {
        SandboxUser {
            uid,
            gid: 100,
            name: name.into(),
            group: "users".into(),
            home: "/homeless-shelter".into(),
        }
    }

    #[test]
    fn passwd_has_root_the_build_user_and_nobody() {
        assert_eq!(
            passwd(&user(1000, "builder")),
            "root:x:0:0:root:/root:/bin/sh\n\
             builder:x:1000:100:builder:/homeless-shelter:/bin/sh\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        );
    }

    #[test]
    fn a_root_build_user_replaces_the_root_entry() {
        let text = passwd(&user(0, "root"));
        assert_eq!(text.lines().filter(|l| l.starts_with("root:")).count(), 1);
        assert!(text.starts_with("root:x:0:100:root:/homeless-shelter:"));
    }

    #[test]
    fn group_has_root_the_users_group_and_nogroup() {
        assert_eq!(
            group(&user(1000, "builder")),
            "root:x:0:\nusers:x:100:builder\nnogroup:x:65534:\n"
        );
    }

    #[test]
    fn hosts_names_loopback_and_the_sandbox_host() {
        let text = hosts("builder-a");
        assert!(text.contains("127.0.0.1\tlocalhost\n"));
        assert!(text.ends_with("127.0.1.1\tbuilder-a\n"));
    }
}
