# Clean and adversarial test accuracy (robinterp.evaluation) → Tables 1 and 4.


rule evaluate_model:
    input:
        data=lambda wc: prepared(wc.dataset),
        model=lambda wc: model_file(wc.dataset, wc.model),
    output:
        f"{RESULTS}/eval/{{dataset}}/{{model}}.json",
    params:
        model=lambda wc: as_json(DATASETS[wc.dataset]["model"]),
        settings=lambda wc: as_json(DATASETS[wc.dataset]["evaluation"]),
        seed=config["seed"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/evaluate_model/{{dataset}}/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_model/{{dataset}}/{{model}}.tsv"
    threads: JOB_THREADS
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp evaluate --data {input.data:q} --model {input.model:q}"
        " --model-settings {params.model:q} --settings {params.settings:q} --seed {params.seed}"
        " --device {params.device} --threads {threads} --out {output:q}"
        " --where datasets.{wildcards.dataset}.evaluation 2> {log:q}"


rule accuracy_table:
    input:
        unpack(accuracy_metrics),
    output:
        report(f"{RESULTS}/{{table}}.csv", category="Tables"),
    params:
        dataset=lambda wc: ACCURACY_TABLES[wc.table],
        metrics=lambda wc, input: name_path_args(dict(input.items())),
        keep=accuracy_metric_names,
    log:
        f"{RESULTS}/logs/accuracy_table/{{table}}.log",
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp table --dataset {params.dataset} --metrics {params.metrics}"
        " --keep {params.keep} --out {output:q} 2> {log:q}"
