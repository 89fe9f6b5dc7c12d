pub(crate) mod proxy;
