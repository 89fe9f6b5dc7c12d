//! CSV of flow edges: one row per coin (see [`flow_edges`](super::flow_edges)).

use super::escape::csv_field;
use super::{flow_edges, utc, End, View};

/// The header row of [`csv_edges`].
pub const CSV_HEADER: &str =
    "from_txid,to_txid,vout,vin,address,value_sat,taint_sat,from_time,to_time";

/// One row per coin: `from_txid,to_txid,vout,vin,address,value_sat,taint_sat,from_time,to_time`.
///
/// `from_txid`/`to_txid` are txids or pseudo-nodes (`unspent:<txid>:<vout>`,
/// `stop:<txid>:<vout>`, `outside:<txid>:<vout>`); `vout` is the coin's output index, `vin` the
/// spending input's index (empty when the spender is not in the graph); times are the block
/// times of the two transactions in ISO 8601 UTC (empty when unconfirmed or not in the graph);
/// unknown values and absent taint are empty. RFC 4180: CRLF line ends, fields quoted as needed.
pub fn csv_edges(view: &View) -> String {
    let mut out = String::new();
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    let time = |end: &End| {
        end.txid()
            .and_then(|t| view.graph.tx(&t))
            .and_then(|n| n.time())
            .map(utc)
            .unwrap_or_default()
    };
    for e in flow_edges(view) {
        let vin = match e.to {
            End::Tx(_, vin) => vin.to_string(),
            _ => String::new(),
        };
        let fields = [
            e.from.id(),
            e.to.id(),
            e.coin.vout.to_string(),
            vin,
            e.address.clone().unwrap_or_default(),
            e.value.map(|v| v.0.to_string()).unwrap_or_default(),
            e.taint.map(|v| v.0.to_string()).unwrap_or_default(),
            time(&e.from),
            time(&e.to),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}
