//! AWS SDK implementation of [`super::Aws`].
