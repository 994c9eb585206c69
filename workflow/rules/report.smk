# One HTML file of the whole run (robinterp.report.html): every table beside the paper's
# numbers and the difference, every figure, the config and the software versions.
# `snakemake report` builds it; `snakemake --report` builds Snakemake's own report
# from the outputs marked with report().


rule report:
    input:
        tables=report_tables(),
        figures=report_figures(),
        imported=list(imported_records().values()),
    output:
        REPORT_HTML,
    log:
        f"{RESULTS}/logs/report/report.log",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        config=as_json(config),
        title=f"robinterp: {RESULTS}",
        imported=name_path_args(imported_records()),
    shell:
        "python -m robinterp report --tables {input.tables:q} --figures {input.figures:q}"
        " --imported {params.imported} --config {params.config:q} --title {params.title:q} --out {output:q} 2> {log:q}"
