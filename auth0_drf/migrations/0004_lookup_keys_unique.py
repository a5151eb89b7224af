"""Make ``lookup_key`` required and unique, replacing the collation-dependent unique constraints.

The rows were unique under the old constraints, which are at least as strict as exact
comparison, so their keys are unique too.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("auth0_drf", "0003_fill_lookup_keys"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auth0identity",
            name="lookup_key",
            field=models.CharField(editable=False, max_length=64, unique=True, verbose_name="lookup key"),
        ),
        migrations.AlterField(
            model_name="claimrecord",
            name="lookup_key",
            field=models.CharField(editable=False, max_length=64, unique=True, verbose_name="lookup key"),
        ),
        migrations.RemoveConstraint(
            model_name="auth0identity",
            name="auth0_drf_unique_identity",
        ),
        migrations.RemoveConstraint(
            model_name="claimrecord",
            name="auth0_drf_unique_claim_record",
        ),
    ]
