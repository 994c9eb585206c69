# Raw data → the stored uint8 format (robinterp.data). Raw-data paths are
# settings, checked when the job runs, so dry-runs need no data.


rule prepare_data:
    output:
        f"{RESULTS}/data/{{dataset}}/meta.json",
    params:
        settings=lambda wc: as_json(DATASETS[wc.dataset]["prepare"]),
        out_dir=lambda wc, output: os.path.dirname(output[0]),
    log:
        f"{RESULTS}/logs/prepare_data/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_data/{{dataset}}.tsv"
    threads: 4
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp prepare --settings {params.settings:q} --out {params.out_dir:q}"
        " --where datasets.{wildcards.dataset}.prepare 2> {log:q}"
