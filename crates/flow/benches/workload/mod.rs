//! The miss benchmark's workload, shared by the criterion bench and the
//! `miss_profile` example (which runs it under callgrind or perf).

use flow::{parse_flow, FlowMod, Packet};

/// `n` flows spread over `tables` tables chained by `resubmit`: per table a
/// catch-all plus /24 `nw_dst` flows, exact `dl_dst` flows and `tp_dst`
/// flows that load or set registers.
pub fn flows(n: usize, tables: u8) -> Vec<FlowMod> {
    let per = (n / tables as usize).max(1);
    let mut out = Vec::with_capacity(n + tables as usize);
    for t in 0..tables {
        let next = if t + 1 == tables {
            "output:7".to_string()
        } else {
            format!("resubmit(,{})", t + 1)
        };
        out.push(
            parse_flow(&format!("table={t},priority=0 actions={next}"))
                .unwrap()
                .flow,
        );
        for i in 0..per {
            let s = match i % 3 {
                0 => format!(
                    "table={t},priority=100,tcp,nw_dst=10.{}.{}.0/24 actions=load:{i}->NXM_NX_REG1[],{next}",
                    (i >> 8) & 0xff,
                    i & 0xff
                ),
                1 => format!(
                    "table={t},priority=200,dl_dst=02:00:00:{:02x}:{:02x}:{:02x} actions={next}",
                    (i >> 16) & 0xff,
                    (i >> 8) & 0xff,
                    i & 0xff
                ),
                _ => format!("table={t},priority=50,tcp,tp_dst={} actions=set_field:{i}->reg2,{next}", i & 0xffff),
            };
            out.push(parse_flow(&s).unwrap().flow);
        }
    }
    out
}

/// `n` TCP packets that hit the flows of [`flows`] with `per_table` flows
/// per table, spread so that consecutive packets differ.
pub fn packets(n: usize, per_table: usize) -> Vec<Packet> {
    (0..n)
        .map(|k| {
            let i = (k * 7919) % per_table.max(1);
            let mut p = Packet::default();
            p.meta.in_port = 1;
            p.key.dl_type = 0x0800;
            p.key.nw_proto = 6;
            p.key.dl_src = [2, 0, 0, 0, 0, 1];
            p.key.dl_dst = [2, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8];
            p.key.nw_dst =
                0x0a00_0000 | ((i as u32 >> 8) & 0xff) << 16 | (i as u32 & 0xff) << 8 | 5;
            p.key.tp_dst = (k % 4096) as u16;
            p.key.tp_src = (k % 65536) as u16;
            p.key.nw_ttl = 64;
            p
        })
        .collect()
}
