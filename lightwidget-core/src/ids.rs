//! Meta's ids as types: an Instagram user id, an app-scoped Facebook user id and a
//! Facebook Page id are all digit strings, and mixing them up is a quiet bug (a Page id
//! where the Instagram business account id belongs finds no account). Each is its own
//! type, built from any string (`From<&str>`, `From<String>`), read as a `&str`
//! (`Deref`, [`as_str`](IgUserId::as_str)), compared with strings, and stored and
//! serialized as the plain string.
//!
//! ```
//! use lightwidget_core::{IgUserId, PageId};
//! let ig = IgUserId::from("17841400001");
//! let page: PageId = "1122334455".into();
//! assert_eq!(ig, "17841400001");
//! assert_eq!(page.as_str(), "1122334455");
//! assert_eq!(serde_json::to_string(&ig).unwrap(), "\"17841400001\"");
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! meta_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id as Meta gave it.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                Self(s.clone())
            }
        }

        impl From<&$name> for $name {
            fn from(id: &$name) -> Self {
                id.clone()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

meta_id!(
    /// An Instagram user id: Instagram-scoped for consumer connections (Instagram
    /// Login), the Instagram business account id for business connections (Facebook
    /// Login). With the [`ConnectionKind`](crate::ConnectionKind) it names an account.
    IgUserId
);

meta_id!(
    /// An app-scoped Facebook user id: the `id` of `/me` with a Facebook Login user
    /// token, what Facebook Login's deauthorize and data-deletion callbacks carry as
    /// `user_id`.
    FbUserId
);

meta_id!(
    /// A Facebook Page id: the Page a business connection's Page token belongs to.
    PageId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_with_strings_and_debug_names_the_kind() {
        let ig = IgUserId::new("1789");
        assert_eq!(ig, "1789");
        assert_eq!("1789", ig);
        assert_eq!(ig, String::from("1789"));
        assert_eq!(format!("{ig:?}"), "IgUserId(\"1789\")");
        assert_eq!(format!("{}", FbUserId::from("10")), "10");
        let p: PageId = serde_json::from_str("\"55\"").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(String::from(p), "55");
    }
}
