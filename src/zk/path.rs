//! Znode path rules (`PathUtils.validatePath`) and the parent/name split.

/// Whether `path` is a valid absolute znode path. A sequential create may
/// end in `/` (the server appends the counter), so its caller validates
/// `path` + "1" as ZooKeeper does.
pub fn is_valid(path: &str) -> bool {
    if path.is_empty() || !path.starts_with('/') {
        return false;
    }
    if path == "/" {
        return true;
    }
    if path.ends_with('/') {
        return false;
    }
    path[1..].split('/').all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && !seg.chars().any(|c| {
                let c = c as u32;
                c == 0
                    || (0x1..=0x1f).contains(&c)
                    || (0x7f..=0x9f).contains(&c)
                    || (0xd800..=0xf8ff).contains(&c)
                    || (0xfff0..=0xffff).contains(&c)
            })
    })
}

/// `(parent, name)`; the root's parent is the empty string.
pub fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// `parent` + "/" + `name`, without a double slash under the root.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_zookeeper() {
        let cases = [
            ("/", true, "the root"),
            ("/a/b", true, "plain path"),
            ("", false, "empty"),
            ("a", false, "no leading slash"),
            ("/a/", false, "trailing slash"),
            ("/a//b", false, "empty segment"),
            ("/a/./b", false, "dot segment"),
            ("/a/..", false, "dot-dot segment"),
            ("/a\u{0}b", false, "NUL"),
            ("/a.b/..c", true, "dots inside names are fine"),
        ];
        for (p, ok, why) in cases {
            assert_eq!(is_valid(p), ok, "{why}: {p:?}");
        }
    }

    #[test]
    fn splits_and_joins() {
        assert_eq!(split("/a"), ("/", "a"));
        assert_eq!(split("/a/b"), ("/a", "b"));
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
