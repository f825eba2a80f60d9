//! Graph API sandbox (work in progress).
