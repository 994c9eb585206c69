# The other seeds' analyses of every method (robinterp.attack_suite, robinterp.etmann,
# robinterp.matrix): robustness curves (Ismail et al. Figs. 2-5), Etmann's alignment vs
# robustness (Etmann et al. Figs. 2-5), and the methods x metrics matrix of each dataset.


rule robustness_curves:
    input:
        data=lambda wc: prepared(wc.dataset),
        model=lambda wc: model_file(wc.dataset, wc.model),
    output:
        f"{RESULTS}/curves/{{dataset}}/{{model}}.json",
    params:
        model=lambda wc: as_json(DATASETS[wc.dataset]["model"]),
        settings=lambda wc: as_json(DATASETS[wc.dataset]["curves"]),
        seed=config["seed"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/robustness_curves/{{dataset}}/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/robustness_curves/{{dataset}}/{{model}}.tsv"
    threads: JOB_THREADS
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp robustness-curves --data {input.data:q} --model {input.model:q}"
        " --model-settings {params.model:q} --settings {params.settings:q} --seed {params.seed}"
        " --device {params.device} --threads {threads} --where datasets.{wildcards.dataset}.curves"
        " --out {output:q} 2> {log:q}"


rule plot_robustness_curves:
    input:
        lambda wc: list(per_model_files(wc.dataset, "{results}/curves/{dataset}/{model}.json").values()),
    output:
        png=report(f"{RESULTS}/fig_robustness_{{dataset}}.png", category="Figures"),
        pdf=f"{RESULTS}/fig_robustness_{{dataset}}.pdf",
    params:
        curves=lambda wc: name_path_args(per_model_files(wc.dataset, "{results}/curves/{dataset}/{model}.json")),
    log:
        f"{RESULTS}/logs/plot_robustness_curves/{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp plot-robustness-curves --curves {params.curves} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} 2> {log:q}"


rule etmann_analysis:
    input:
        data=lambda wc: prepared(wc.dataset),
        model=lambda wc: model_file(wc.dataset, wc.model),
    output:
        arrays=f"{RESULTS}/etmann/{{dataset}}/{{model}}.npz",
        summary=f"{RESULTS}/etmann/{{dataset}}/{{model}}.json",
    params:
        model=lambda wc: as_json(DATASETS[wc.dataset]["model"]),
        settings=lambda wc: as_json(DATASETS[wc.dataset]["etmann"]),
        device=config["device"],
    log:
        f"{RESULTS}/logs/etmann_analysis/{{dataset}}/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/etmann_analysis/{{dataset}}/{{model}}.tsv"
    threads: JOB_THREADS
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp etmann --data {input.data:q} --model {input.model:q}"
        " --model-settings {params.model:q} --settings {params.settings:q} --device {params.device}"
        " --threads {threads} --where datasets.{wildcards.dataset}.etmann --out-arrays {output.arrays:q}"
        " --out-summary {output.summary:q} 2> {log:q}"


rule plot_etmann:
    input:
        lambda wc: list(per_model_files(wc.dataset, "{results}/etmann/{dataset}/{model}.npz").values()),
    output:
        summary=report(f"{RESULTS}/fig_etmann_{{dataset}}_summary.png", category="Figures"),
        summary_pdf=f"{RESULTS}/fig_etmann_{{dataset}}_summary.pdf",
        scatter=report(f"{RESULTS}/fig_etmann_{{dataset}}_scatter.png", category="Figures"),
        scatter_pdf=f"{RESULTS}/fig_etmann_{{dataset}}_scatter.pdf",
    params:
        analyses=lambda wc: name_path_args(per_model_files(wc.dataset, "{results}/etmann/{dataset}/{model}.npz")),
        order=lambda wc: gradnorm_order(wc.dataset),
    log:
        f"{RESULTS}/logs/plot_etmann/{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp plot-etmann --analyses {params.analyses} --gradnorm-order '{params.order}'"
        " --title {wildcards.dataset} --out-summary {output.summary:q} {output.summary_pdf:q}"
        " --out-scatter {output.scatter:q} {output.scatter_pdf:q} 2> {log:q}"


rule methods_matrix:
    input:
        evaluation=lambda wc: list(per_model_files(wc.dataset, "{results}/eval/{dataset}/{model}.json").values()),
        attribution=lambda wc: list(
            per_model_files(wc.dataset, "{results}/attribution/{dataset}/{model}.json").values()
        ),
        etmann=lambda wc: list(per_model_files(wc.dataset, "{results}/etmann/{dataset}/{model}.json").values()),
        synthesis=f"{RESULTS}/synthesis/{{dataset}}/metrics.json",
    output:
        csv=report(f"{RESULTS}/{{dataset}}/methods_matrix.csv", category="Tables"),
        png=report(f"{RESULTS}/{{dataset}}/methods_matrix.png", category="Figures"),
        pdf=f"{RESULTS}/{{dataset}}/methods_matrix.pdf",
    params:
        evaluation=lambda wc: name_path_args(per_model_files(wc.dataset, "{results}/eval/{dataset}/{model}.json")),
        attribution=lambda wc: name_path_args(
            per_model_files(wc.dataset, "{results}/attribution/{dataset}/{model}.json")
        ),
        etmann=lambda wc: name_path_args(per_model_files(wc.dataset, "{results}/etmann/{dataset}/{model}.json")),
    log:
        f"{RESULTS}/logs/methods_matrix/{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    shell:
        "python -m robinterp methods-matrix --dataset {wildcards.dataset} --evaluation {params.evaluation}"
        " --attribution {params.attribution} --etmann {params.etmann} --synthesis {input.synthesis:q}"
        " --out-csv {output.csv:q} --out-figure {output.png:q} {output.pdf:q} 2> {log:q}"
