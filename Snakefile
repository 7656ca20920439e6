# Human vs machine attention in facial expression recognition
# (a reproduction and extension of Park & Wallraven, ACPR 2021). See README.md and docs/design.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"  # `snakemake --report report.zip`: figures, tables, captions


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/saliency.smk"
include: "rules/humans.smk"
include: "rules/similarity.smk"
include: "rules/statistics.smk"
include: "rules/figures.smk"
include: "rules/report.smk"
include: "rules/experiment.smk"  # the browser experiment; not in `rule all`
include: "rules/recovery.smk"  # the recovery study with planted attention; not in `rule all`


rule all:
    input:
        final_outputs(),
    default_target: True
